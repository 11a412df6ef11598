"""RabbitMQ restarts under a running cluster: sessions stay, nothing emitted meanwhile is lost.

Uses a private broker node the test owns (never the machine's shared one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.rabbit_node import RabbitNode
from tests.support.tabs import eventually

from .conftest import Processes, cluster_env, http_json
from .test_cluster import emit, tab, texts, until_text

pytestmark = pytest.mark.e2e


@pytest.fixture
def rabbit() -> Iterator[RabbitNode]:
    node = RabbitNode(prefix="ewrestart")
    try:
        node.start()
        yield node
    finally:
        node.cleanup()


async def healthy(url: str) -> bool:
    try:
        status, _ = await http_json(f"{url}/readyz")
    except OSError:
        return False
    return status == 200


async def test_broker_restart_mid_stream(processes: Processes, rabbit: RabbitNode) -> None:
    env = cluster_env(rabbit.url, EVENTWIRE_NODE_QUEUE_EXPIRES="120")
    a = await processes.edge(env, "edge-a")
    b = await processes.edge(env, "edge-b")
    sender = await processes.sender(env)
    alice_a, alice_b = await tab(processes, a, "alice"), await tab(processes, b, "alice")
    sids = (alice_a.sid, alice_b.sid)

    async def never(_data: dict[str, Any]) -> Any:
        await asyncio.Event().wait()

    alice_a.answer = never
    await emit(sender, "alice", "before")
    for t in (alice_a, alice_b):
        await until_text(t, "before")
    confirm = {"type": "confirmation", "data": {"title": "Still there?"}}
    in_flight = asyncio.create_task(
        sender.request("call", user="alice", session=alice_a.sid, event=confirm, timeout=3600)
    )
    await asyncio.wait_for(alice_a.calls.get(), 20)

    await asyncio.to_thread(rabbit.stop)
    reply = await in_flight
    assert reply["code"] == "broker_unavailable"  # failed, not hanging for an hour
    await eventually(lambda: _all_down(a.url, b.url))

    for i in range(20):
        await emit(sender, "alice", f"during {i}")  # held in the sender's outbox
    state = await sender.request("state")
    assert state["connected"] is False
    assert state["outbox"] == 20

    await asyncio.to_thread(rabbit.start)
    await eventually(lambda: _all_up(a.url, b.url), within=60)

    await emit(sender, "alice", "after")
    expected = ["before"] + [f"during {i}" for i in range(20)] + ["after"]
    for t in (alice_a, alice_b):
        await until_text(t, "after")
        assert texts(t) == expected
    assert (alice_a.sid, alice_b.sid) == sids  # the same sessions, never reconnected

    alice_b.answer = None

    async def yes(_data: dict[str, Any]) -> Any:
        return "yes"

    alice_b.answer = yes
    reply = await sender.request("call", user="alice", session=alice_b.sid, event=confirm)
    assert reply["value"] == "yes"


async def _all_down(*urls: str) -> bool:
    return not any([await healthy(u) for u in urls])


async def _all_up(*urls: str) -> bool:
    return all([await healthy(u) for u in urls])
