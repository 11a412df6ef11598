"""Fixtures that own processes: every one started here is stopped by PID at teardown."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from eventwire import Settings
from tests.support.cluster import SECRET, delete_namespace
from tests.support.procs import EdgeProc, Proc, SenderProc, WorkerProc
from tests.support.tabs import Tab


def cluster_env(amqp_url: str, **extra: str) -> dict[str, str]:
    return {
        "AMQP_URL": amqp_url,
        "WEBUI_SECRET_KEY": SECRET,
        "EVENTWIRE_NAMESPACE": f"ewe2e-{uuid.uuid4().hex[:10]}",
        "EVENTWIRE_RECONNECT_INITIAL_DELAY": "0.1",
        "EVENTWIRE_RECONNECT_MAX_DELAY": "0.5",
        "EVENTWIRE_LOG_LEVEL": "WARNING",
        **extra,
    }


class Processes:
    def __init__(self) -> None:
        self.procs: list[Proc] = []
        self.tabs: list[Tab] = []

    async def edge(self, env: dict[str, str], name: str = "edge") -> EdgeProc:
        proc = EdgeProc(env, name)
        self.procs.append(proc)
        return await proc.start()

    async def sender(self, env: dict[str, str]) -> SenderProc:
        proc = SenderProc(env)
        self.procs.append(proc)
        return await proc.start()

    async def worker(self, env: dict[str, str], name: str = "worker") -> WorkerProc:
        proc = WorkerProc(env, name)
        self.procs.append(proc)
        return await proc.start()

    async def close(self) -> None:
        for tab in self.tabs:
            await tab.disconnect()
        for proc in reversed(self.procs):
            await proc.stop()


@pytest.fixture
async def processes(env: dict[str, str]) -> AsyncIterator[Processes]:
    # Depends on `env` so its namespace is deleted only after every process has stopped.
    p = Processes()
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def env(amqp_url: str) -> AsyncIterator[dict[str, str]]:
    values = cluster_env(amqp_url)
    yield values
    await delete_namespace(Settings(amqp_url=amqp_url, namespace=values["EVENTWIRE_NAMESPACE"]))


async def http_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


Check = Callable[[], Awaitable[bool]]
