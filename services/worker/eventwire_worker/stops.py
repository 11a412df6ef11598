"""Stops for tasks that have not started: remembered a while, checked when a job is taken.

A queued job is in the broker, where nobody can reach it by id; so a stop for a task no
worker runs is sent to every worker, and each remembers it (bounded in count and time). The
worker that later takes the job cancels it instead of running it, if the stop came from the
job's user or an admin: who owns a queued job is known only once it is taken.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

QUEUED_STOPS_LIMIT = 10_000  # per worker; the oldest is forgotten first


@dataclass
class _Entry:
    expires: float
    requesters: set[tuple[str, str]] = field(default_factory=set)  # (user id, role)


class QueuedStops:
    def __init__(
        self,
        ttl: float,
        limit: int = QUEUED_STOPS_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # in expiry order

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, task_id: str, user_id: str, role: str) -> None:
        now = self._clock()
        self._forget_expired(now)
        entry = self._entries.pop(task_id, None) or _Entry(now + self._ttl)
        entry.expires = now + self._ttl
        entry.requesters.add((user_id, role))
        self._entries[task_id] = entry
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)

    def take(self, task_id: str, owner: str) -> bool | None:
        """Forget the stops of ``task_id``: True if one may cancel a job of ``owner``,
        False if there were only others' stops, None if there was none."""
        entry = self._entries.pop(task_id, None)
        if entry is None or entry.expires < self._clock():
            return None
        return any(user == owner or role == "admin" for user, role in entry.requesters)

    def _forget_expired(self, now: float) -> None:
        while self._entries:
            first = next(iter(self._entries.values()))
            if first.expires >= now:
                return
            self._entries.popitem(last=False)
