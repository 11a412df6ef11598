"""Processes a test starts: spawned with their own environment, stopped by PID, never orphaned."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Self

WAIT = 30.0

Handler = Callable[..., Awaitable[dict[str, Any]]]


class Proc:
    def __init__(self, *argv: str, env: dict[str, str], name: str, limit: int = 2**16) -> None:
        self.argv = argv
        self.limit = limit  # longest stdout line
        self.env = env
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_lines: list[str] = []
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.proc.pid

    async def start(self) -> Proc:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env={**os.environ, **self.env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=self.limit,
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        return self

    async def _drain_stderr(self) -> None:
        if self.proc is None or self.proc.stderr is None:
            return
        async for line in self.proc.stderr:
            self.stderr_lines.append(line.decode(errors="replace").rstrip())

    async def readline(self, timeout: float = WAIT) -> str:
        if self.proc is None or self.proc.stdout is None:
            raise RuntimeError(f"{self.name} is not started")
        async with asyncio.timeout(timeout):
            line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited:\n" + "\n".join(self.stderr_lines[-30:]))
        return line.decode().rstrip("\n")

    async def write_json(self, message: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None:
            raise RuntimeError(f"{self.name} is not started")
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; reaps the process group."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                await self.proc.wait()
        except TimeoutError:
            self.kill()
            await self.proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(Exception):
                await self._stderr_task
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


class EdgeProc(Proc):
    def __init__(self, env: dict[str, str], name: str = "edge") -> None:
        super().__init__(
            sys.executable, "-m", "eventwire_cli", "edge", "--port", "0", env=env, name=name
        )
        self.url = ""
        self.node_id = ""

    async def start(self) -> EdgeProc:
        await super().start()
        while True:
            line = await self.readline()
            if line.startswith("eventwire edge ready"):
                fields = dict(part.split("=", 1) for part in line.split()[3:])
                self.url, self.node_id = fields["url"], fields["node"]
                return self


class WorkerProc(Proc):
    # Its metrics server on a free port, on loopback, unless the test says otherwise: never
    # the default 9100 (two workers of a test, or of two test runs, would collide).
    METRICS = {"EVENTWIRE_WORKER_METRICS_PORT": "0", "EVENTWIRE_WORKER_METRICS_HOST": "127.0.0.1"}

    def __init__(self, env: dict[str, str], name: str = "worker", python: str = "") -> None:
        # ``python``: another interpreter, e.g. Open WebUI's virtualenv (plugins that import
        # open_webui.* run there against Open WebUI's database).
        super().__init__(
            python or sys.executable,
            "-m",
            "eventwire_cli",
            "worker",
            env={**self.METRICS, **env},
            name=name,
        )
        self.worker_id = ""
        self.metrics_url = ""  # where /metrics, /healthz, /readyz answer

    async def start(self) -> WorkerProc:
        await super().start()
        while True:
            line = await self.readline()
            if line.startswith("eventwire worker ready"):
                fields = dict(part.split("=", 1) for part in line.split()[3:])
                self.worker_id = fields["id"]
                self.metrics_url = fields.get("metrics", "")
                return self

    async def wait(self, timeout: float = WAIT) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        async with asyncio.timeout(timeout):
            return await self.proc.wait()

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, sig)


async def serve(handlers: dict[str, Handler], ready: dict[str, Any]) -> None:
    """Answer control requests on stdin until it closes (the runner stopping us)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
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


class JsonLinesProc(Proc):
    """A child driven by JSON lines: it prints ``ready [json]`` once, then answers each
    ``{"seq", "op", ...}`` request line with one ``{"seq", ...}`` line; requests may overlap.
    """

    request_timeout = WAIT * 2

    def __init__(self, *argv: str, env: dict[str, str], name: str, limit: int = 2**16) -> None:
        super().__init__(*argv, env=env, name=name, limit=limit)
        self.info: dict[str, Any] = {}  # what the ready line said
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Self:
        await super().start()
        while True:
            line = await self.readline(timeout=60)
            if line == "ready" or line.startswith("ready "):
                self.info = json.loads(line[6:]) if line != "ready" else {}
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
        """Send one request and return its reply (without ``seq``); an ``error`` raises."""
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        await self.write_json({"seq": self._next, "op": op, **fields})
        async with asyncio.timeout(self.request_timeout):
            reply = await future
        if "error" in reply:
            raise RuntimeError(f"{self.name} {op}: {reply['error']}")
        return reply

    async def stop(self, timeout: float = 15.0) -> int | None:
        if self._reader is not None:
            self._reader.cancel()
        return await super().stop(timeout)


class SenderProc(JsonLinesProc):
    """tests/e2e/sender.py: a plain Python process using the SDK."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(sys.executable, "-m", "tests.e2e.sender", env=env, name="sender")
