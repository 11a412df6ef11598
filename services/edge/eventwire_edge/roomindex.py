"""python-socketio's ``AsyncManager`` with an index of the rooms each sid is in.

python-socketio finds a disconnecting sid's rooms by copying the namespace's whole room table
and testing every room for the sid (``BaseManager.basic_disconnect``, and ``get_rooms``). Every
socket has a room of its own, and on an edge every user a room too, so one disconnect costs
time in proportion to every socket on the server, and a server closing its sockets (a drain,
a shutdown, a load balancer dropping them) does quadratic work: at 5,000 sockets that was a
third of an edge's CPU (py-spy), each disconnect about 2 ms.

``IndexedRooms`` keeps, per namespace and sid, the rooms it entered (in the order it entered
them) beside python-socketio's own table, which stays what it was, so everything that reads
``manager.rooms`` sees the same thing. Entering, leaving, closing and disconnecting go through
python-socketio's own ``basic_*`` methods; only the search for a sid's rooms changes.

The sids connecting and disconnecting (``pending_connect``, ``pending_disconnect``) are lists
in python-socketio, searched on every ``is_connected``: while thousands of sockets leave at once
each of them waits there, and the search was a sixth of the edge's CPU. Here they are
insertion-ordered sets with the list's ``append`` and ``remove``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import socketio

Room = Any  # a room name; None is python-socketio's room of every connected sid


class PendingSids:
    """A namespace's sids in the middle of connecting or disconnecting: python-socketio's
    list (``append``, ``remove``, ``in``, ``len``, iteration in order, equal to the list of the
    same sids), each operation O(1). A sid is in it once, however often it was appended."""

    __slots__ = ("_sids",)

    def __init__(self, sids: Iterable[str] = ()) -> None:
        self._sids = dict.fromkeys(sids)

    def append(self, sid: str) -> None:
        self._sids[sid] = None

    def remove(self, sid: str) -> None:
        try:
            del self._sids[sid]
        except KeyError:
            raise ValueError(f"{sid!r} is not pending") from None

    def __contains__(self, sid: object) -> bool:
        return sid in self._sids

    def __len__(self) -> int:
        return len(self._sids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PendingSids | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as the list it stands for

    def __repr__(self) -> str:
        return f"PendingSids({list(self._sids)!r})"


class _PendingTable(dict[str, PendingSids]):
    """namespace -> ``PendingSids``: python-socketio stores a new list per namespace
    (``pending[namespace] = []``); it is kept as a ``PendingSids`` of the same sids."""

    def __setitem__(self, namespace: str, sids: Iterable[str]) -> None:
        super().__setitem__(namespace, sids if isinstance(sids, PendingSids) else PendingSids(sids))


class IndexedRooms(socketio.AsyncManager):  # type: ignore[misc]  # untyped library
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._joined: dict[str, dict[str, dict[Room, None]]] = {}  # namespace -> sid -> rooms
        self.pending_connect = _PendingTable()
        self.pending_disconnect = _PendingTable()

    def joined(self, sid: str, namespace: str) -> list[Room]:
        """Every room ``sid`` is in, its own and python-socketio's ``None`` room included."""
        return list(self._joined.get(namespace, {}).get(sid, ()))

    def basic_enter_room(
        self, sid: str, namespace: str, room: Room, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # raises: not entered
        self._joined.setdefault(namespace, {}).setdefault(sid, {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Room) -> None:
        super().basic_leave_room(sid, namespace, room)
        sids = self._joined.get(namespace)
        rooms = sids.get(sid) if sids is not None else None
        if rooms is None:
            return
        rooms.pop(room, None)
        if not rooms:
            del sids[sid]  # type: ignore[union-attr]  # rooms came from sids
            if not sids:
                del self._joined[namespace]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        # python-socketio's own, with the sid's rooms taken from the index instead of a scan
        if namespace not in self.rooms:
            return
        for room in self.joined(sid, namespace):
            self.basic_leave_room(sid, namespace, room)
        if sid in self.callbacks:
            del self.callbacks[sid]
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Room]:
        return [room for room in self.joined(sid, namespace) if room is not None]
