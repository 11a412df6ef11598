"""Emission helpers for the patterns Open WebUI's documents recommend.

- ``Progress``: counter progress ("3/10 files").
- ``status``: a status lifecycle that always ends with ``done: true``, even when the body raises.
- ``Throttle``: at most one delta per interval; ``flush`` forces the final send.
- ``Batcher``: collect items and send them as one event every N items (and at the end).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]


def status_event(description: str, *, done: bool = False, hidden: bool = False) -> dict[str, Any]:
    return {"type": "status", "data": {"description": description, "done": done, "hidden": hidden}}


class Progress:
    """``await progress.step()`` emits "<label> i/total" statuses; the last one is done."""

    def __init__(self, emit: Emitter, total: int, label: str = "Progress") -> None:
        self._emit = emit
        self.total = total
        self.label = label
        self.count = 0

    async def step(self, detail: str = "") -> None:
        self.count += 1
        text = f"{self.label} {self.count}/{self.total}" + (f": {detail}" if detail else "")
        await self._emit(status_event(text, done=self.count >= self.total))


@asynccontextmanager
async def status(
    emit: Emitter, description: str, *, done: str | None = None, failed: str = "Failed"
) -> AsyncIterator[None]:
    """Emit a running status, then ``done: true`` whatever happens (error text on failure)."""
    await emit(status_event(description))
    try:
        yield
    except BaseException as exc:
        reason = "cancelled" if isinstance(exc, asyncio.CancelledError) else str(exc)
        await asyncio.shield(emit(status_event(f"{failed}: {reason}", done=True)))
        raise
    await emit(status_event(done or description, done=True))


class Throttle:
    """Send ``chat:message:delta`` at most every ``interval`` seconds, batching the text between.

    Nothing is lost and nothing waits long: text that arrives inside the interval goes out with
    the next send, or on its own once the interval has passed (a stream that pauses, e.g. for
    an ``__event_call__``, still shows what it said); ``flush()`` (call it when the stream
    ends) sends what is left at once.
    """

    def __init__(
        self, emit: Emitter, interval: float, *, event_type: str = "chat:message:delta"
    ) -> None:
        self._emit = emit
        self.interval = interval
        self.event_type = event_type
        self._pending: list[str] = []
        self._last = -math.inf  # the first text goes out at once
        self._later: asyncio.Task[None] | None = None  # sends held text once the interval ends
        self.sent = 0

    async def send(self, text: str) -> None:
        if text:
            self._pending.append(text)
        if not self._pending:
            return
        wait = self.interval - (time.monotonic() - self._last)
        if wait <= 0:
            await self.flush()
        elif self._later is None:
            self._later = asyncio.get_running_loop().create_task(self._flush_after(wait))

    async def _flush_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._later = None
        await self.flush()

    async def flush(self) -> None:
        later, self._later = self._later, None
        if later is not None and later is not asyncio.current_task():
            later.cancel()
        if not self._pending:
            return
        content, self._pending = "".join(self._pending), []
        self._last = time.monotonic()
        self.sent += 1
        await self._emit({"type": self.event_type, "data": {"content": content}})


class Batcher:
    """Collect items; every ``size`` items (and on ``flush``) send ``make_event(items)``."""

    def __init__(
        self,
        emit: Emitter,
        size: int,
        make_event: Callable[[list[Any]], dict[str, Any]],
    ) -> None:
        self._emit = emit
        self.size = size
        self._make_event = make_event
        self._items: list[Any] = []

    async def add(self, item: Any) -> None:
        self._items.append(item)
        if len(self._items) >= self.size:
            await self.flush()

    async def flush(self) -> None:
        if self._items:
            items, self._items = self._items, []
            await self._emit(self._make_event(items))
