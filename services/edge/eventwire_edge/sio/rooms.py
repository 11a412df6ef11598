"""Keeps a server's inbox bound to the keys of exactly the rooms it holds members of.

python-socketio's room table (``manager.rooms``) is the reference count: a key stays bound
while any (namespace, room) naming it has a member here, so the count cannot drift from
the membership it stands for. Binds go through the bus inbox, which restores them after a
broker outage.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

from eventwire.bus import Inbox
from eventwire.topology import sio_all_key, sio_room_key

Holds = Callable[[str, str | None], bool]
"""Whether this server has a member of (namespace, room); room None: any socket at all."""


def room_key(namespace: str, room: str | None) -> str:
    return sio_all_key(namespace) if room is None else sio_room_key(namespace, room)


class RoomKeys:
    def __init__(self, inbox: Inbox, holds: Holds) -> None:
        self._inbox = inbox
        self._holds = holds
        self._holders: defaultdict[str, set[tuple[str, str | None]]] = defaultdict(set)
        # Keeps each key's bind/unbind in the order membership changed.
        self._lock = asyncio.Lock()

    @property
    def bound(self) -> frozenset[str]:
        return frozenset(self._holders)

    async def sync(self, namespace: str, *rooms: str | None) -> None:
        """Bind or unbind the keys of ``rooms`` to match the room table now.

        Returns once the broker confirmed the binds, so an emit made after ``enter_room``
        returns routes to this server.
        """
        async with self._lock:
            for room in rooms:
                key = room_key(namespace, room)
                pair = (namespace, room)
                holders = self._holders.get(key)
                # The table changes before the broker call: a cancelled sync leaves the
                # inbox wanting what the table says (the inbox restores it on reconnect).
                if self._holds(namespace, room):
                    self._holders[key].add(pair)
                    if not holders:
                        await self._inbox.bind(key)
                elif holders is not None and pair in holders:
                    holders.discard(pair)
                    if not holders:
                        del self._holders[key]
                        await self._inbox.unbind(key)
