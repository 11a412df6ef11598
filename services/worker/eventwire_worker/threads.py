"""Plugin code in threads, counted per run: cancelling a run does not stop its threads.

Nothing can stop a thread short of ending the process, so a worker must know whether a run's
code still runs before it hands the job to another worker (it would run twice at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any


class ThreadUse:
    """How much of one run's plugin code is running in threads right now."""

    _lock = threading.Lock()  # guards every instance's count and the process total
    _total = 0

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._count > 0

    @classmethod
    def running(cls) -> int:
        """Plugin calls running in threads in this process, every run together."""
        with cls._lock:
            return cls._total

    def enter(self) -> None:
        """On the loop, before the call is handed to a thread."""
        with self._lock:
            self._count += 1
            ThreadUse._total += 1
        self._idle.clear()

    def leave(self) -> None:
        """From any thread, once the call returned (or will never start)."""
        with self._lock:
            self._count -= 1
            ThreadUse._total -= 1
            idle = self._count == 0
        if idle:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                self._loop.call_soon_threadsafe(self._set_idle)

    def _set_idle(self) -> None:
        if not self.busy:
            self._idle.set()

    async def wait_idle(self) -> None:
        while self.busy:
            await self._idle.wait()


RUN_THREADS: contextvars.ContextVar[ThreadUse | None] = contextvars.ContextVar(
    "eventwire_run_threads", default=None
)
"""The ``ThreadUse`` of the run whose task this is (set by the worker per run)."""


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``asyncio.to_thread``, counted in the current run's ``ThreadUse`` until ``fn`` returns.

    Counted from before the hand-over, so there is no moment where the call is about to start
    and the run looks idle; a call cancelled before any thread started it is uncounted.
    """
    use = RUN_THREADS.get()
    if use is None:
        return await asyncio.to_thread(fn, *args, **kwargs)
    gate = threading.Lock()
    state = {"started": False, "dropped": False}

    def call() -> Any:
        with gate:
            if state["dropped"]:
                return None
            state["started"] = True
        try:
            return fn(*args, **kwargs)
        finally:
            use.leave()

    use.enter()
    try:
        return await asyncio.to_thread(call)
    except asyncio.CancelledError:
        with gate:
            if not state["started"]:
                state["dropped"] = True
                use.leave()
        raise
