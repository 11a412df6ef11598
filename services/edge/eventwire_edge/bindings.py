"""Reference-counted bindings: many sockets on one node that share a key bind it once.

Each key has its own lock, so a bind or unbind of one key happens in the order its count
changed while unrelated keys proceed: a socket joining a thousand channels does not hold up
another socket's connect. Many keys are bound in batches of ``BATCH`` at a time, so a connect
waits behind at most one batch at the broker, never behind the whole join.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from eventwire.bus import Inbox

BATCH = 32


class Bindings:
    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._counts: Counter[str] = Counter()
        self._bound: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: Counter[str] = Counter()  # tasks holding or awaiting each key's lock

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
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            results = await asyncio.gather(
                *(self._reconcile_one(key) for key in batch), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    async def _reconcile_one(self, key: str) -> None:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._waiters[key] += 1
        try:
            async with lock:
                wanted = self._counts[key] > 0
                if wanted and key not in self._bound:
                    await self._inbox.bind(key)
                    self._bound.add(key)
                elif not wanted and key in self._bound:
                    await self._inbox.unbind(key)
                    self._bound.discard(key)
        finally:
            self._waiters[key] -= 1
            if self._waiters[key] <= 0:  # nobody else on this key: forget its lock
                del self._waiters[key]
                del self._locks[key]
