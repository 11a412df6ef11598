"""Reference-counted bindings: many sockets on one node that share a key bind it once."""

from __future__ import annotations

import asyncio
from collections import Counter

from eventwire.bus import Inbox


class Bindings:
    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._counts: Counter[str] = Counter()
        self._bound: set[str] = set()
        # One lock keeps bind/unbind of a key in the order the counts changed; binds are
        # sub-millisecond on a local broker, so serialising them costs little.
        self._lock = asyncio.Lock()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._bound)

    def count(self, key: str) -> int:
        return self._counts[key]

    async def acquire(self, *keys: str) -> None:
        for key in keys:
            self._counts[key] += 1
        await self._reconcile(keys)

    async def release(self, *keys: str) -> None:
        for key in keys:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]
        await self._reconcile(keys)

    async def _reconcile(self, keys: tuple[str, ...]) -> None:
        async with self._lock:
            for key in keys:
                wanted = self._counts[key] > 0
                if wanted and key not in self._bound:
                    await self._inbox.bind(key)
                    self._bound.add(key)
                elif not wanted and key in self._bound:
                    await self._inbox.unbind(key)
                    self._bound.discard(key)
