"""The JSON-lines control channel between the runner and the processes it starts.

A child prints ``ready <json>`` once, then answers each request line
``{"seq", "op", ...}`` with one line ``{"seq", ...}``; requests run concurrently.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tests.support.procs import JsonLinesProc

Handler = Callable[..., Awaitable[dict[str, Any]]]
REQUEST_TIMEOUT = 600.0
LINE_LIMIT = 2**26


def now_ns() -> int:
    """CLOCK_MONOTONIC: system-wide on Linux, so timestamps compare across processes."""
    return time.monotonic_ns()


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a child's main on uvloop when installed (BENCH_LOOP=asyncio to opt out)."""
    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop

            uvloop.run(main)
            return
        except ImportError:
            pass
    asyncio.run(main)


async def serve(handlers: dict[str, Handler], ready: dict[str, Any]) -> None:
    """Answer control requests on stdin until it closes (the runner stopping us)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()

    async def answer(request: dict[str, Any]) -> None:
        op = request.pop("op")
        seq = request.pop("seq")
        try:
            reply = await handlers[op](**request)
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps({"seq": seq, **reply}) + "\n")
        sys.stdout.flush()

    sys.stdout.write("ready " + json.dumps(ready) + "\n")
    sys.stdout.flush()
    while line := await reader.readline():
        task = asyncio.create_task(answer(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in tasks:
        task.cancel()


class Child(JsonLinesProc):
    """A started child driven through ``request``; ``info`` is what its ready line said."""

    request_timeout = REQUEST_TIMEOUT

    def __init__(self, module: str, *args: str, env: dict[str, str], name: str) -> None:
        # A line limit that fits a phase's samples on one line.
        super().__init__(sys.executable, "-m", module, *args, env=env, name=name, limit=LINE_LIMIT)
