"""Two edge processes, one separate sender process, real clients, the real broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventwire import mint_token
from tests.support.cluster import token
from tests.support.procs import EdgeProc, SenderProc
from tests.support.tabs import Refused, Tab

from .conftest import Processes, http_json

pytestmark = pytest.mark.e2e


def note(text: str) -> dict[str, Any]:
    return {"type": "notification", "data": {"type": "info", "content": text}}


async def tab(processes: Processes, edge: EdgeProc, user: str) -> Tab:
    t = Tab(edge.url, token(user), name=user)
    processes.tabs.append(t)
    return await t.connect()


async def emit(sender: SenderProc, user: str, text: str, **fields: Any) -> None:
    reply = await sender.request("emit", user=user, event=note(text), **fields)
    assert reply == {"ok": True}


def texts(t: Tab) -> list[str]:
    return [e["data"]["data"]["content"] for e in t.events if e["data"]["type"] == "notification"]


async def until_text(t: Tab, text: str) -> None:
    await t.wait_for(lambda events: text in texts(t))


async def test_emits_are_routed_only_to_the_nodes_and_tabs_of_their_user(
    processes: Processes, env: dict[str, str]
) -> None:
    a = await processes.edge(env, "edge-a")
    b = await processes.edge(env, "edge-b")
    sender = await processes.sender(env)
    alice_a, alice_b = await tab(processes, a, "alice"), await tab(processes, b, "alice")
    bob_1, bob_2 = await tab(processes, a, "bob"), await tab(processes, a, "bob")
    carol_b = await tab(processes, b, "carol")

    for i in range(10):
        await emit(sender, "bob", f"bob {i}")
    await emit(sender, "alice", "alice 0")
    await emit(sender, "carol", "carol 0")
    for user in ("alice", "bob", "carol"):  # sentinels: published last, so they arrive last
        await emit(sender, user, f"{user} end")

    for t in (alice_a, alice_b, bob_1, bob_2, carol_b):
        await until_text(t, f"{t.name} end")
    assert texts(alice_a) == texts(alice_b) == ["alice 0", "alice end"]
    assert texts(bob_1) == texts(bob_2) == [f"bob {i}" for i in range(10)] + ["bob end"]
    assert texts(carol_b) == ["carol 0", "carol end"]

    _, stats_a = await http_json(f"{a.url}/stats")
    _, stats_b = await http_json(f"{b.url}/stats")
    # Each session's mailbox gets its own copy (recovery, the default): bob's two tabs on A.
    assert stats_a["bus_messages"] == 2 * 11 + 2  # bob's eleven twice, alice's two
    assert stats_b["bus_messages"] == 2 + 2  # alice's and carol's: none of bob's
    assert stats_a["emits_refused"] == stats_b["emits_refused"] == 0


async def test_calls_from_another_process(processes: Processes, env: dict[str, str]) -> None:
    a = await processes.edge(env, "edge-a")
    b = await processes.edge(env, "edge-b")
    sender = await processes.sender(env)
    alice = await tab(processes, b, "alice")
    quiet = await tab(processes, a, "alice")

    async def answer(data: dict[str, Any]) -> Any:
        return {"confirmed": True, "title": data["data"]["data"]["title"]}

    async def never(_data: dict[str, Any]) -> Any:
        await asyncio.Event().wait()

    alice.answer, quiet.answer = answer, never
    confirm = {"type": "confirmation", "data": {"title": "Go?", "message": "Sure?"}}

    reply = await sender.request("call", user="alice", session=alice.sid, event=confirm)
    assert reply["ok"] and reply["value"] == {"confirmed": True, "title": "Go?"}

    reply = await sender.request(
        "call", user="alice", session="nobody", event=confirm, timeout=3600
    )
    assert reply["code"] == "session_offline"

    reply = await sender.request(
        "call", user="alice", session=quiet.sid, event=confirm, timeout=0.5
    )
    assert reply["code"] == "timeout"

    pending = asyncio.create_task(
        sender.request("call", user="alice", session=quiet.sid, event=confirm, timeout=3600)
    )
    await asyncio.wait_for(quiet.calls.get(), 20)
    await quiet.calls.get()  # the second question (the first was the timed-out one)
    await quiet.disconnect()
    reply = await pending
    assert reply["code"] == "client_disconnected"

    reply = await sender.request("call", user="mallory", session=alice.sid, event=confirm)
    assert reply["code"] == "forbidden"


async def test_forged_token_is_refused_by_an_edge_process(
    processes: Processes, env: dict[str, str]
) -> None:
    a = await processes.edge(env)
    forged = Tab(a.url, mint_token("alice", "not-the-deployment-secret-but-long-enough-x"))
    with pytest.raises(Refused, match="signature"):
        await forged.connect()
    status, stats = await http_json(f"{a.url}/stats")
    assert status == 200
    assert stats["connects_refused"] == 1
    assert stats["sessions"] == 0
