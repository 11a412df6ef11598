"""HAProxy (Debian's) in front of two Open WebUI replicas, splitting sockets from HTTP.

Open WebUI serves its Socket.IO endpoint under ``/ws/`` and everything else (pages, API,
``POST /api/chat/completions``) elsewhere. This balancer sends ``/ws/`` to replica A, with B as
backup (used once A fails its health check), and every other path to B, so a browser's socket
lands on A while the runs it starts execute on B: every event and dialog between them crosses
replicas. The deployment balancer for eventwire's own edges is ``deploy/haproxy/haproxy.cfg``.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import aiohttp

from .openwebui import free_port
from .procs import Proc

HAPROXY = "/usr/sbin/haproxy"
READY_DEADLINE = 30.0

CONFIG = """\
global
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # An upgraded websocket is a tunnel; Socket.IO's pings keep it busy.
    timeout tunnel 1h

frontend owui
    bind 127.0.0.1:{port}
    acl socket path_beg /ws/
    use_backend sockets if socket
    default_backend http

backend sockets
    option httpchk
    http-check send meth GET uri /health
    http-check expect status 200
    # One failed check takes A out: the test kills it and waits for the reconnect to B.
    default-server inter 500ms fastinter 250ms downinter 500ms fall 1 rise 1
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check backup

backend http
    server b 127.0.0.1:{b}

frontend stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"""


def missing_haproxy() -> str | None:
    return None if Path(HAPROXY).is_file() else f"no {HAPROXY}: apt-get install -y haproxy"


@dataclass(frozen=True)
class ServerStats:
    status: str  # UP, DOWN, no check ...
    current: int  # open sessions (a websocket is one for as long as it lives)
    total: int  # sessions since start


DOWN = ServerStats("DOWN", 0, 0)
Stats = dict[tuple[str, str], ServerStats]  # (backend, server) -> counters
StatsCheck = Callable[[Stats], bool]


def server(stats: Stats, backend: str, name: str) -> ServerStats:
    return stats.get((backend, name), DOWN)


class Balancer(Proc):
    """``haproxy -db`` on a generated config; ``url`` is what the browser opens."""

    def __init__(self, directory: Path, a_port: int, b_port: int) -> None:
        self.port, self.stats_port = free_port(), free_port()
        self.config = directory / "haproxy.cfg"
        self.log = directory / "haproxy.log"
        self.config.write_text(
            CONFIG.format(port=self.port, a=a_port, b=b_port, stats=self.stats_port)
        )
        super().__init__(HAPROXY, "-db", "-f", str(self.config), env={}, name="haproxy")
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            async with asyncio.timeout(READY_DEADLINE):
                await self.until(lambda s: server(s, "sockets", "a").status == "UP")
        except BaseException:
            await self.stop()
            raise
        return self

    async def stats(self) -> Stats:
        """Each server of each backend, from HAProxy's CSV stats page."""
        if self.proc is not None and self.proc.returncode is not None:
            raise RuntimeError(f"haproxy exited {self.proc.returncode}:\n{self.log.read_text()}")
        url = f"http://127.0.0.1:{self.stats_port}/stats;csv"
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                text = await response.text()
        except aiohttp.ClientError:
            return {}
        return {
            (row["pxname"], row["svname"]): ServerStats(
                row["status"], int(row["scur"] or 0), int(row["stot"] or 0)
            )
            for row in csv.DictReader(io.StringIO(text.lstrip("# ")))
            if row["svname"] not in ("FRONTEND", "BACKEND")
        }

    async def until(self, condition: StatsCheck) -> Stats:
        """Poll the stats page (HAProxy's only way to tell) until ``condition`` holds; the
        caller bounds the wait."""
        while True:
            stats = await self.stats()
            if condition(stats):
                return stats
            await asyncio.sleep(0.1)
