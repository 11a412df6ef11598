"""A frozen broker (its VM SIGSTOPped: sockets open, nothing answers) is noticed and ridden out.

Heartbeats and the publish-confirm deadline turn the silence into a lost connection: emits go to
the outbox (or fail with ``BrokerUnavailable``), ``connected`` turns False, the edge's
``/readyz`` and HTTP submits answer 503, a call in flight fails as ``broker_unavailable`` (not
``session_offline``), and everything reconnects and delivers the outbox once the VM runs again.
Uses a private broker node the test owns (never the machine's shared one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cluster import token
from tests.support.http import post
from tests.support.rabbit_node import RabbitNode
from tests.support.tabs import eventually

from .conftest import Processes, cluster_env, http_json
from .test_cluster import emit, note, tab, texts, until_text

pytestmark = pytest.mark.e2e

CONFIRM = {"type": "confirmation", "data": {"title": "Still there?"}}


@pytest.fixture
def rabbit() -> Iterator[RabbitNode]:
    node = RabbitNode(prefix="ewfreeze")
    try:
        node.start()
        yield node
    finally:
        node.cleanup()  # thaws first


async def status_of(url: str) -> int:
    try:
        status, _ = await http_json(f"{url}/readyz")
    except OSError:
        return 0
    return status


def first_seen(items: list[str]) -> list[str]:
    """At-least-once: an emit caught mid-publish by the freeze may arrive twice."""
    return list(dict.fromkeys(items))


async def test_a_frozen_broker_is_noticed_and_ridden_out(
    processes: Processes, rabbit: RabbitNode
) -> None:
    env = cluster_env(rabbit.url, EVENTWIRE_NODE_QUEUE_EXPIRES="120")
    edge = await processes.edge(env, "edge")
    sender = await processes.sender(env)
    alice = await tab(processes, edge, "alice")
    sid = alice.sid

    async def never(_data: dict[str, Any]) -> Any:
        await asyncio.Event().wait()

    alice.answer = never
    await emit(sender, "alice", "before")
    await until_text(alice, "before")
    in_flight = asyncio.create_task(
        sender.request("call", user="alice", session=sid, event=CONFIRM, timeout=3600)
    )
    await asyncio.wait_for(alice.calls.get(), 20)

    rabbit.freeze()
    try:
        form = {"model": "any", "messages": [{"role": "user", "content": "hi"}]}
        status, body = await post(f"{edge.url}/api/chat/completions", form, token=token("alice"))
        assert status == 503, body  # the confirm deadline, not a hang

        held = []
        for i in range(5):
            reply = await sender.request("emit", user="alice", event=note(f"during {i}"))
            assert reply == {"ok": True} or reply["code"] == "broker_unavailable", reply
            if reply["ok"]:
                held.append(f"during {i}")

        reply = await in_flight
        assert reply["ok"] is False
        assert reply["code"] == "broker_unavailable", reply  # not session_offline
        assert "broker" in reply["message"]

        async def sender_down() -> bool:
            return (await sender.request("state"))["connected"] is False

        await eventually(sender_down, within=60)
        await eventually(lambda: _is(edge.url, 503), within=60)
        state = await sender.request("state")
        assert state["outbox"] >= len(held) - 1  # one may have gone out just before the freeze
        reply = await sender.request("call", user="alice", session=sid, event=CONFIRM, timeout=30)
        assert reply["code"] == "broker_unavailable", reply
    finally:
        rabbit.thaw()

    await eventually(lambda: _is(edge.url, 200), within=60)

    async def sender_up() -> bool:
        state = await sender.request("state")
        return state["connected"] is True and state["outbox"] == 0

    await eventually(sender_up, within=60)
    await emit(sender, "alice", "after")
    await until_text(alice, "after")
    assert first_seen(texts(alice)) == ["before", *held, "after"]
    assert alice.sid == sid  # the tab never reconnected

    async def yes(_data: dict[str, Any]) -> Any:
        return "yes"

    alice.answer = yes
    reply = await sender.request("call", user="alice", session=sid, event=CONFIRM, timeout=30)
    assert reply == {"ok": True, "value": "yes"}


async def _is(url: str, status: int) -> bool:
    return await status_of(url) == status
