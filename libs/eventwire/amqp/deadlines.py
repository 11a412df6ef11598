"""One timer for every publish awaiting its broker confirm, instead of one each.

Every publish must be confirmed within ``broker_timeout`` (a frozen broker is noticed by the
first publish it leaves waiting). ``asyncio.timeout`` per publish schedules and cancels a
timer handle each time: a tenth of an emitter's CPU in the profile. Here the confirmations
waited on are kept in order of their deadlines (they are all the same length), the ones
already settled are dropped from the front as new ones arrive, and one timer, set for the
oldest unsettled one, fails what is overdue with ``TimeoutError`` (the caller counts the
connection as lost, as it did when its own timeout fired).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class ConfirmDeadlines:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._waiting: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def watch(self, confirmation: asyncio.Future[Any]) -> None:
        """``confirmation`` fails with ``TimeoutError`` if unsettled ``seconds`` from now."""
        waiting = self._waiting
        while waiting and waiting[0][1].done():  # settled in order, mostly: stays short
            waiting.popleft()
        loop = confirmation.get_loop()
        deadline = loop.time() + self.seconds
        waiting.append((deadline, confirmation))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        waiting = self._waiting
        now = loop.time()
        while waiting:
            deadline, confirmation = waiting[0]
            if confirmation.done():
                waiting.popleft()
            elif deadline <= now:
                waiting.popleft()
                confirmation.set_exception(TimeoutError())
            else:
                break
        if waiting:
            self._timer = loop.call_at(waiting[0][0], self._expire, loop)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
