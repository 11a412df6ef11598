"""``IndexedRooms`` keeps python-socketio's room table exactly as ``AsyncManager`` does, finds
a disconnecting sid's rooms without reading anyone else's, and its pending sids are sets."""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace
from typing import Any

import pytest
import socketio
from socketio import packet

from eventwire_edge.roomindex import IndexedRooms, PendingSids


def managed(manager: Any) -> Any:
    ids = itertools.count(1)
    server = SimpleNamespace(
        eio=SimpleNamespace(generate_id=lambda: f"s{next(ids)}"), packet_class=packet.Packet
    )
    manager.set_server(server)
    manager.initialize()
    return manager


def state(manager: Any) -> dict[str, Any]:
    return {
        "rooms": {
            ns: {r: dict(m) for r, m in rooms.items()} for ns, rooms in manager.rooms.items()
        },
        "pending_connect": manager.pending_connect,
        "pending_disconnect": manager.pending_disconnect,
        "callbacks": sorted(manager.callbacks),
    }


async def step(manager: Any, op: str, args: tuple[Any, ...]) -> Any:
    try:
        if op == "pre_disconnect":
            return ("ok", manager.pre_disconnect(*args))
        if op == "ack":
            return ("ok", manager._generate_ack_id(*args))
        return ("ok", await getattr(manager, op)(*args))
    except Exception as exc:  # the same error from both, or the test fails
        return ("error", type(exc))


@pytest.mark.parametrize("seed", range(8))
async def test_the_room_table_is_python_socketios_after_any_sequence_of_operations(
    seed: int,
) -> None:
    plain, indexed = managed(socketio.AsyncManager()), managed(IndexedRooms())
    rng = random.Random(seed)
    sids: list[str] = []
    eio_ids = itertools.count(1)
    namespaces, rooms = ("/", "/chat"), ("a", "b", "c", "user:1")
    for n in range(600):
        ns = rng.choice(namespaces)
        someone = rng.choice(sids) if sids else "nobody"
        op, args = rng.choice(
            [
                ("connect", (f"e{next(eio_ids)}", ns)),
                ("pre_connect", (f"e{next(eio_ids)}", ns)),
                ("enter_room", (someone, ns, rng.choice(rooms))),
                ("enter_room", (someone, ns, rng.choice(sids) if sids else "x")),  # a sid room
                ("leave_room", (someone, ns, rng.choice(rooms))),
                ("leave_room", (someone, ns, someone)),
                ("close_room", (rng.choice(rooms), ns)),
                ("pre_disconnect", (someone, ns)),
                ("disconnect", (someone, ns)),
                ("disconnect", (someone, ns)),
                ("ack", (someone, print)),
            ]
        )
        if op == "pre_disconnect" and not plain.is_connected(*args):
            continue  # python-socketio's server asks is_connected first; see the test below
        assert await step(indexed, op, args) == await step(plain, op, args), (op, args)
        if op in ("connect", "pre_connect"):
            sid = plain.sid_from_eio_sid(args[0], ns)
            assert sid == indexed.sid_from_eio_sid(args[0], ns)
            if sid is not None:
                sids.append(sid)
        assert state(indexed) == state(plain), (op, args)
        for sid, namespace in itertools.product(sids if n % 20 == 0 else [someone], namespaces):
            assert sorted(indexed.get_rooms(sid, namespace), key=str) == sorted(
                plain.get_rooms(sid, namespace), key=str
            )
            scanned = [r for r, members in plain.rooms.get(namespace, {}).items() if sid in members]
            assert sorted(indexed.joined(sid, namespace), key=str) == sorted(scanned, key=str)


class Unreadable(dict[Any, Any]):
    """A namespace's room table that fails the test if anything scans it."""

    def copy(self) -> Any:
        raise AssertionError("the room table was copied")

    def items(self) -> Any:
        raise AssertionError("the room table was scanned")

    def __iter__(self) -> Any:
        raise AssertionError("the room table was iterated")


async def test_a_disconnect_reads_only_its_own_rooms() -> None:
    manager = managed(IndexedRooms())
    sids = [await manager.connect(f"e{i}", "/") for i in range(50)]
    for i, sid in enumerate(sids):
        await manager.enter_room(sid, "/", f"user:{i % 7}")
    manager.rooms["/"] = Unreadable(manager.rooms["/"])
    await manager.disconnect(sids[3], "/")
    assert manager.get_rooms(sids[3], "/") == []
    assert sids[3] not in manager.rooms["/"][None]
    assert sids[3] not in manager.rooms["/"]  # its own room, now empty, is gone
    assert sids[3] not in dict(manager.rooms["/"]["user:3"])
    assert manager.is_connected(sids[4], "/")
    with pytest.raises(AssertionError, match="scanned"):
        socketio.AsyncManager.get_rooms(manager, sids[4], "/")  # what it replaced


async def test_pending_sids_are_the_list_python_socketio_keeps_without_its_duplicates() -> None:
    manager = managed(IndexedRooms())
    a, b = await manager.connect("e1", "/"), await manager.connect("e2", "/")
    manager.pre_disconnect(a, "/")
    manager.pre_disconnect(b, "/")
    pending = manager.pending_disconnect["/"]
    assert isinstance(pending, PendingSids)
    assert pending == [a, b] and list(pending) == [a, b] and len(pending) == 2
    assert a in pending and "other" not in pending
    manager.pre_disconnect(a, "/")  # python-socketio's list would now hold a twice
    assert pending == [a, b]
    await manager.disconnect(a, "/")
    assert pending == [b] and not manager.is_connected(b, "/")
    with pytest.raises(ValueError, match="not pending"):
        pending.remove(a)
    await manager.disconnect(b, "/")
    assert manager.pending_disconnect == {}  # the namespace's entry goes with its last sid
