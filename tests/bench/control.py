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

from tests.support.procs import Proc

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


class Child(Proc):
    """A started child driven through ``request``; ``info`` is what its ready line said."""

    def __init__(self, module: str, *args: str, env: dict[str, str], name: str) -> None:
        super().__init__(sys.executable, "-m", module, *args, env=env, name=name)
        self.info: dict[str, Any] = {}
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Child:
        # As Proc.start, with a line limit that fits a phase's samples on one line.
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        while True:
            line = await self.readline(timeout=60)
            if line.startswith("ready "):
                self.info = json.loads(line[6:])
                break
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            try:
                line = await self.readline(timeout=3600)
            except (RuntimeError, TimeoutError) as exc:
                for future in self._waiting.values():
                    if not future.done():
                        future.set_exception(RuntimeError(f"{self.name} exited: {exc}"))
                return
            reply = json.loads(line)
            future = self._waiting.pop(reply.pop("seq"), None)
            if future is not None:
                future.set_result(reply)

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        await self.write_json({"seq": self._next, "op": op, **fields})
        async with asyncio.timeout(REQUEST_TIMEOUT):
            reply = await future
        if "error" in reply:
            raise RuntimeError(f"{self.name} {op}: {reply['error']}")
        return reply

    async def stop(self, timeout: float = 15.0) -> int | None:
        if self._reader is not None:
            self._reader.cancel()
        return await super().stop(timeout)
