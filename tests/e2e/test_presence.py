"""Open WebUI's socket surface on three edge processes: channels, presence, healing, limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.support.members import Member
from tests.support.procs import EdgeProc, SenderProc
from tests.support.tabs import eventually

from .conftest import Processes, http_json

pytestmark = pytest.mark.e2e

# Views are compared by asking every node in a loop: let the askers ask that often.
POLLING = {"EVENTWIRE_CLIENT_EVENT_RATE": "1000", "EVENTWIRE_CLIENT_EVENT_BURST": "1000"}


# Fixture order matters: processes (requested after the env) stop before the env's exchange
# is deleted, so edges never see their exchange vanish while they say goodbye.
@pytest.fixture
def presence_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, **POLLING, "EVENTWIRE_USAGE_TIMEOUT": "600"}


async def connect(processes: Processes, edge: EdgeProc, user: str, **claims: Any) -> Member:
    m = Member(edge.url, user, **claims)
    processes.tabs.append(m)
    await m.connect()
    return m


async def three_edges(processes: Processes, env: dict[str, str]) -> list[EdgeProc]:
    return list(await asyncio.gather(*(processes.edge(env, f"edge-{n}") for n in ("a", "b", "c"))))


def measured(**figures: object) -> None:
    """Figures worth reading (``pytest -rP``), never asserted on: timing varies by machine."""
    print("measured:", ", ".join(f"{k}={v}" for k, v in figures.items()))


async def stats(edge: EdgeProc) -> dict[str, Any]:
    _, body = await http_json(f"{edge.url}/stats")
    return dict(body)


async def all_answer(askers: list[Member], event: str, data: Any, expected: Any) -> bool:
    answers = await asyncio.gather(*(m.ask(event, data) for m in askers))
    return all(a == expected for a in answers)


async def sdk_sees(sender: SenderProc, users: list[str], models: list[str] | None = None) -> bool:
    reply = await sender.request("presence")
    return bool(reply["users"] == users and (models is None or reply["models"] == models))


async def test_channel_events_reach_every_member_on_every_node_and_no_one_else(
    env: dict[str, str], processes: Processes
) -> None:
    a, b, c = await three_edges(processes, env)
    alice = await connect(processes, a, "alice", channels=["team", "ops"])
    bob = await connect(processes, b, "bob", channels=["team"])
    carol = await connect(processes, c, "carol", channels=["team"])
    others = [
        await connect(processes, a, "dave", channels=["ops"]),
        await connect(processes, b, "erin", channels=["ops"]),
        await connect(processes, c, "frank", channels=["ops"]),
    ]
    mallory = await connect(processes, c, "mallory", channels=["lobby"])
    for m in (alice, bob, carol, *others, mallory):
        await m.join()

    # A non-member can neither join nor send.
    assert await mallory.join("team") == {"channel_ids": ["lobby"]}
    assert await mallory.say("team", "let me in") is None
    await mallory.wait_until(lambda: len(mallory.errors) == 2)
    assert [e["code"] for e in mallory.errors] == ["forbidden", "forbidden"]

    await alice.say("team", "hello team")
    await alice.say("ops", "sentinel")  # published after: wherever it arrives, team came first
    for m in (alice, *others):
        await m.wait_until(lambda m=m: ("ops", "alice", "sentinel") in m.heard())
    for m in (alice, bob, carol):
        await m.wait_until(lambda m=m: ("team", "alice", "hello team") in m.heard())
    assert bob.heard() == carol.heard() == [("team", "alice", "hello team")]
    for m in others:
        assert m.heard() == [("ops", "alice", "sentinel")]
    assert mallory.heard() == []

    counts = [await stats(e) for e in (a, b, c)]
    assert [s["channel_events_delivered"] for s in counts] == [2, 2, 2]
    assert counts[0]["channel_events_sent"] == 2
    assert counts[2]["client_requests_denied"] == 2


async def test_user_list_and_usage_agree_on_every_node_after_joins_and_leaves(
    presence_env: dict[str, str], processes: Processes
) -> None:
    a, b, c = await three_edges(processes, presence_env)
    sender = await processes.sender(presence_env)
    u1_a = await connect(processes, a, "u1")
    u2_b = await connect(processes, b, "u2")
    u3_c = await connect(processes, c, "u3")
    u4_b = await connect(processes, b, "u4")
    u1_c = await connect(processes, c, "u1")
    await u1_a.ask("usage", {"model": "llama3"})
    await u3_c.ask("usage", {"model": "gpt-4o", "chat_id": "c1"})

    askers = [u1_a, u4_b, u1_c]  # one per node
    everyone = {"user_ids": ["u1", "u2", "u3", "u4"]}
    await eventually(lambda: all_answer(askers, "user-list", None, everyone))
    both = {"models": ["gpt-4o", "llama3"]}
    await eventually(lambda: all_answer(askers, "usage", {"model": "llama3"}, both))
    await eventually(lambda: sdk_sees(sender, ["u1", "u2", "u3", "u4"], ["gpt-4o", "llama3"]))

    await u2_b.disconnect()
    await u3_c.disconnect()  # the only session using gpt-4o
    remaining = {"user_ids": ["u1", "u4"]}
    await eventually(lambda: all_answer(askers, "user-list", None, remaining))
    llama = {"models": ["llama3"]}
    await eventually(lambda: all_answer(askers, "usage", {"model": "llama3"}, llama))
    await eventually(lambda: sdk_sees(sender, ["u1", "u4"], ["llama3"]))


async def test_a_killed_node_vanishes_from_every_view_and_calls_to_it_fail_as_offline(
    env: dict[str, str], processes: Processes
) -> None:
    env = {
        **env,
        **POLLING,
        "EVENTWIRE_PRESENCE_INTERVAL": "0.5",
        "EVENTWIRE_PRESENCE_TTL": "2",
        # x-expires far beyond the bound: only presence can make these calls fail fast.
        "EVENTWIRE_NODE_QUEUE_EXPIRES": "120",
        # Without recovery: with it the tabs of a dead node may come back, and calls to them
        # wait (tests/e2e/test_recovery.py).
        "EVENTWIRE_RECOVERY_WINDOW": "0",
    }
    a, b, c = await three_edges(processes, env)
    sender = await processes.sender(env)
    alice = await connect(processes, a, "alice")
    bob = await connect(processes, b, "bob")
    carol = await connect(processes, c, "carol")

    async def never(_data: dict[str, Any]) -> Any:
        await asyncio.Event().wait()

    carol.answer = never
    all_three = {"user_ids": ["alice", "bob", "carol"]}
    await eventually(lambda: all_answer([alice, bob, carol], "user-list", None, all_three))
    await eventually(lambda: sdk_sees(sender, ["alice", "bob", "carol"]))
    confirm = {"type": "confirmation", "data": {"title": "Still there?"}}
    in_flight = asyncio.create_task(
        sender.request("call", user="carol", session=carol.sid, event=confirm, timeout=3600)
    )
    await asyncio.wait_for(carol.calls.get(), 20)
    carol_sid = carol.sid

    killed_at = time.monotonic()
    c.kill()
    survivors = {"user_ids": ["alice", "bob"]}
    await eventually(lambda: all_answer([alice, bob], "user-list", None, survivors), within=10)
    healed_after = time.monotonic() - killed_at
    reply = await in_flight
    failed_after = time.monotonic() - killed_at
    assert reply["code"] == "session_offline"
    started = time.monotonic()
    reply = await sender.request(
        "call", user="carol", session=carol_sid, event=confirm, timeout=3600
    )
    assert reply["code"] == "session_offline"
    measured(
        view_healed_after_s=round(healed_after, 2),
        in_flight_call_failed_after_s=round(failed_after, 2),
        new_call_failed_in_s=round(time.monotonic() - started, 3),
    )

    # A node started in its place sees only what is live; nothing of the dead node survives.
    c2 = await processes.edge(env, "edge-c2")
    dave = await connect(processes, c2, "dave")
    now_live = {"user_ids": ["alice", "bob", "dave"]}
    await eventually(lambda: all_answer([alice, bob, dave], "user-list", None, now_live))
    await eventually(lambda: sdk_sees(sender, ["alice", "bob", "dave"]))
    expired = [(await stats(e))["presence_expired_nodes"] for e in (a, b, c2)]
    assert expired[:2] == [1, 1]  # a and b saw c go silent
    assert expired[2] == 0  # c2 never heard of it


async def test_a_flood_from_one_client_is_limited_while_another_still_gets_its_events(
    env: dict[str, str], processes: Processes
) -> None:
    env = {**env, "EVENTWIRE_CLIENT_EVENT_RATE": "5", "EVENTWIRE_CLIENT_EVENT_BURST": "10"}
    a, b, c = await three_edges(processes, env)
    sender = await processes.sender(env)
    flooder = await connect(processes, a, "flooder", channels=["team"])
    listener = await connect(processes, a, "listener", channels=["team"])
    far = [
        await connect(processes, b, "bob", channels=["team"]),
        await connect(processes, c, "carol", channels=["team"]),
    ]
    for m in (flooder, listener, *far):
        await m.join()
    flood, stream = 300, 30
    latencies: list[float] = []

    async def storm() -> None:
        for i in range(flood):
            await flooder.client.emit(
                "events:channel",
                {"channel_id": "team", "data": {"type": "typing", "data": {"text": str(i)}}},
            )

    async def notify() -> None:
        for i in range(stream):
            sent_at = time.monotonic()
            event = {"type": "notification", "data": {"type": "info", "content": f"n{i}"}}
            reply = await sender.request("emit", user="listener", event=event)
            assert reply["ok"]
            await listener.wait_for(lambda events, n=i + 1: len(events) >= n)
            latencies.append(time.monotonic() - sent_at)

    await asyncio.gather(storm(), notify())
    assert [e["data"]["data"]["content"] for e in listener.events] == [
        f"n{i}" for i in range(stream)
    ]

    async def settled() -> bool:
        s = await stats(a)
        return bool(s["client_events_limited"] + s["channel_events_sent"] == flood)

    await eventually(settled)
    s = await stats(a)
    accepted = s["channel_events_sent"]
    assert 0 < accepted < flood
    for m in (listener, *far):
        await m.wait_until(lambda m=m: len(m.heard()) == accepted)
    assert {e["code"] for e in flooder.errors} == {"rate_limited"}
    assert listener.errors == []
    measured(
        flood_accepted=accepted,
        flood_limited=s["client_events_limited"],
        listener_latency_max_ms=round(1000 * max(latencies), 1),
        listener_latency_median_ms=round(1000 * sorted(latencies)[len(latencies) // 2], 1),
    )
