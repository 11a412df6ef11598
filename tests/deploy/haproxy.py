"""Debian's HAProxy run on deploy/haproxy/haproxy.cfg, addresses given by the environment."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import socket
from pathlib import Path

import aiohttp

from tests.support.procs import Proc

from .contract import DEPLOY, tool

CONFIG = DEPLOY / "haproxy" / "haproxy.cfg"
# The variables haproxy.cfg reads; the rest of the environment is not passed to HAProxy.
VARIABLES = ("HAPROXY_BIND", "HAPROXY_STATS_BIND", "EDGE1", "EDGE2", "EDGE_CHECK_PATH")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def haproxy_env(values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    return {**env, **values}


class HaproxyProc(Proc):
    """HAProxy in the foreground (``-db``), its log in a file (it logs every request)."""

    def __init__(self, env: dict[str, str], log: Path, *, admin: bool = False) -> None:
        config = CONFIG
        self.admin_socket: Path | None = None
        if admin:  # the runtime API on a private socket: the deploy config has none
            self.admin_socket = log.parent / "haproxy-admin.sock"
            config = log.parent / "haproxy-admin.cfg"
            text = CONFIG.read_text()
            config.write_text(
                text.replace(
                    "global\n", f'global\n    stats socket "{self.admin_socket}" level admin\n', 1
                )
            )
        super().__init__(tool("haproxy"), "-db", "-f", str(config), env=env, name="haproxy")
        self.log = log
        self.port = int(env["HAPROXY_BIND"].rsplit(":", 1)[1])
        self.stats_port = int(env["HAPROXY_STATS_BIND"].rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> HaproxyProc:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=haproxy_env(self.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    async def command(self, line: str) -> str:
        """One runtime API command (``admin=True``), its answer."""
        if self.admin_socket is None:
            raise RuntimeError("started without the runtime API (admin=True)")
        reader, writer = await asyncio.open_unix_connection(str(self.admin_socket))
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            return (await reader.read()).decode()
        finally:
            writer.close()

    async def shutdown_sessions(self, server: str) -> None:
        """Cut every connection to ``server`` (no close frame reaches either side)."""
        await self.command(f"shutdown sessions server edges/{server}")

    async def servers(self) -> dict[str, str]:
        """Status of each server of backend `edges` (UP, DOWN, ...), from the stats page."""
        if self.proc is not None and self.proc.returncode is not None:
            raise RuntimeError(f"haproxy exited {self.proc.returncode}:\n{self.log.read_text()}")
        url = f"http://127.0.0.1:{self.stats_port}/stats;csv"
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                text = await response.text()
        except aiohttp.ClientError:
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "edges" and row["svname"] not in ("FRONTEND", "BACKEND")
        }
