"""The receiving side of a handoff: held events and the draining node's merge, once each, in
publish order (the whole exchange runs against real processes in tests/e2e/test_drain.py)."""

from __future__ import annotations

from eventwire.memory.bus import MemoryBus
from eventwire.protocol import Emit, Handoff
from eventwire.topology import Topology
from eventwire_edge.handoff import HandoffStats, Holds


def emit(n: int, at: float | None) -> Emit:
    return Emit(user_id="alice", payload={"data": {"type": "status", "n": n}}, at=at)


async def test_held_and_handed_over_events_merge_once_each_in_publish_order() -> None:
    delivered: list[tuple[str, int]] = []

    async def deliver(sid: str, e: Emit) -> None:
        delivered.append((sid, e.payload["data"]["n"]))

    stats = HandoffStats()
    bus = MemoryBus("memory://handoff", Topology("t"), max_payload=1 << 20)
    holds = Holds(bus, "t.node.b", deliver, stats)
    holds.hold("new", "alice", ["a", "c"])
    # Routed here once this node bound the user: 3 and 4 also reached the draining nodes.
    assert holds.keep_for_user(emit(3, 3.0)) == ["new"]
    assert holds.keep("new", emit(4, 4.0))
    assert holds.keep("new", emit(5, 5.0))
    kept_by_a = [emit(1, 1.0), emit(2, 2.0), emit(3, 3.0), emit(4, 4.0)]
    await holds.receive(Handoff(node_id="a", user_id="alice", session_id="new", emits=kept_by_a))
    assert delivered == []  # c has not answered yet
    same_instant = Emit(user_id="alice", payload={"data": {"type": "other", "n": 0}}, at=2.0)
    await holds.receive(
        Handoff(node_id="c", user_id="alice", session_id="new", emits=[same_instant])
    )
    assert delivered == [("new", 1), ("new", 2), ("new", 0), ("new", 3), ("new", 4), ("new", 5)]
    assert stats.handoffs_received == 2 and stats.handoff_duplicates == 2
    assert holds.held == {} and holds.by_user == {}
    # After the hold, events flow directly again; a handoff that comes late is dropped.
    assert holds.keep_for_user(emit(6, 6.0)) is None
    await holds.receive(Handoff(node_id="a", user_id="alice", session_id="new", emits=[]))
    assert stats.handoffs_late == 1
    await holds.close()


async def test_a_handoff_in_parts_waits_for_the_last() -> None:
    delivered: list[int] = []

    async def deliver(_sid: str, e: Emit) -> None:
        delivered.append(e.payload["data"]["n"])

    holds = Holds(
        MemoryBus("memory://parts", Topology("t"), max_payload=1 << 20),
        "t.node.b",
        deliver,
        HandoffStats(),
    )
    holds.hold("new", "alice", ["a"])
    part = {"node_id": "a", "user_id": "alice", "session_id": "new"}
    await holds.receive(Handoff(**part, emits=[emit(1, 1.0)], last=False))
    assert delivered == []
    await holds.receive(Handoff(**part, emits=[emit(2, 2.0)]))
    assert delivered == [1, 2]
    await holds.close()
