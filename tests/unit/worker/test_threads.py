from __future__ import annotations

import asyncio
import contextlib
import threading

from eventwire_worker.context import invoke
from eventwire_worker.threads import RUN_THREADS, ThreadUse


async def test_a_cancelled_call_counts_its_thread_until_the_code_returns() -> None:
    release, started = threading.Event(), threading.Event()

    def block() -> None:
        started.set()
        release.wait()

    use = ThreadUse()
    token = RUN_THREADS.set(use)
    try:
        task = asyncio.create_task(invoke(block, {}, {}))  # the task inherits RUN_THREADS
        await asyncio.to_thread(started.wait)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert use.busy  # cancelled, yet its code runs on: a drain must not hand it back
        assert ThreadUse.running() >= 1
        release.set()
        await use.wait_idle()
        assert not use.busy
    finally:
        release.set()
        RUN_THREADS.reset(token)
