"""The abuse suite's fixtures: raw sockets (closed at teardown), a real edge process for fuzzing
(stopped by PID)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from eventwire import Settings
from eventwire_edge import EdgeServer
from tests.support.cluster import SECRET, delete_namespace, token
from tests.support.rawsocket import RawSocket

OpenRaw = Callable[..., Awaitable[RawSocket]]


@pytest.fixture
async def raw() -> AsyncIterator[OpenRaw]:
    """``await raw(edge, user)``: a raw socket joined as ``user`` (``user=None``: only opened)."""
    opened: list[RawSocket] = []

    async def open_one(
        edge: EdgeServer, user: str | None = "alice", *, read: bool = True
    ) -> RawSocket:
        socket = RawSocket(edge.url)
        opened.append(socket)
        if user is None:
            return await socket.open(read=read)
        return await socket.connect(token(user), read=read)

    try:
        yield open_one
    finally:
        for socket in opened:
            await socket.close()


class EdgeProcess:
    """A real ``eventwire edge`` process (sync, for hypothesis tests); stopped by PID."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.stderr_path = ""

    def start(self, stderr_path: str) -> EdgeProcess:
        self.stderr_path = stderr_path
        with open(stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "eventwire_cli", "edge", "--port", "0"],
                env={**os.environ, **self.env},
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the ready line, or EOF when it dies
            if line.startswith("eventwire edge ready"):
                fields = dict(part.split("=", 1) for part in line.split()[3:])
                self.url = fields["url"]
                return self
        raise RuntimeError("the edge exited before it was ready:\n" + self.stderr())

    def stderr(self) -> str:
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def edge_process(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeProcess]:
    """One edge process on the real broker for a module's fuzzing (rates high: each example
    is one more packet from the same few clients)."""
    namespace = f"ewfuzz-{uuid.uuid4().hex[:10]}"
    env = {
        "AMQP_URL": amqp_url,
        "WEBUI_SECRET_KEY": SECRET,
        "EVENTWIRE_NAMESPACE": namespace,
        "EVENTWIRE_LOG_LEVEL": "WARNING",
        "EVENTWIRE_CLIENT_EVENT_RATE": "10000",
        "EVENTWIRE_CLIENT_EVENT_BURST": "10000",
    }
    edge = EdgeProcess(env).start(str(tmp_path_factory.mktemp("edge") / "stderr.log"))
    try:
        yield edge
    finally:
        edge.stop()
        asyncio.run(delete_namespace(Settings(amqp_url=amqp_url, namespace=namespace)))
