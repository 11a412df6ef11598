"""What Open WebUI replicas share besides RabbitMQ: one Redis and one PostgreSQL database.

- ``RedisServer``: a private ``redis-server`` (Debian's) on a free loopback port, started and
  stopped by PID. Not the shared 127.0.0.1:6379: Redis pub/sub channels are global to a
  server, so two Open WebUI deployments on one Redis cross-talk on its task commands.
- ``postgres_database``: a fresh database on the PostgreSQL at 127.0.0.1:5432 (trust auth,
  user ``postgres``), dropped afterwards; Open WebUI's URL for it is
  ``postgresql+psycopg://postgres@127.0.0.1:5432/<name>`` (its sync engine has no psycopg2).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Self

import redis.asyncio as aioredis

from .openwebui import free_port
from .procs import Proc

REDIS_SERVER = "/usr/bin/redis-server"
PSQL = "/usr/bin/psql"
POSTGRES = ("-h", "127.0.0.1", "-p", "5432", "-U", "postgres")
READY_DEADLINE = 30.0


def missing_backing_services() -> str | None:
    for tool, package in ((REDIS_SERVER, "redis-server"), (PSQL, "postgresql-client")):
        if shutil.which(tool) is None:
            return f"no {tool}: apt-get install -y {package}"
    return None


class RedisServer(Proc):
    """``redis-server`` in the foreground, no persistence, its log in a file."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        super().__init__(
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(log),
            env={},
            name="redis",
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> Self:
        await super().start()
        try:
            async with asyncio.timeout(READY_DEADLINE):
                await self._until_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _until_ready(self) -> None:
        # A server answers PING only once it accepts commands: the only signal it gives.
        client = aioredis.Redis.from_url(self.url)
        try:
            while True:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"redis-server exited {self.proc.returncode}")
                try:
                    if await client.ping():
                        return
                except (aioredis.ConnectionError, OSError):
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def pubsub_channels(self, pattern: str = "*") -> list[str]:
        """The channels someone is subscribed to right now (``PUBSUB CHANNELS``)."""
        client = aioredis.Redis.from_url(self.url, decode_responses=True)
        try:
            return sorted(str(c) for c in await client.pubsub_channels(pattern))
        finally:
            await client.aclose()


async def _psql(sql: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        PSQL,
        *POSTGRES,
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-qc",
        sql,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"psql {sql!r} failed ({proc.returncode}): {output.decode()}")


@asynccontextmanager
async def postgres_database(prefix: str = "ewowui") -> AsyncIterator[str]:
    """A new, empty database; yields Open WebUI's ``DATABASE_URL`` for it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _psql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        # FORCE: a replica killed mid-test may leave connections the server still counts.
        await _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
