"""In-process edges, SDK clients and tabs on one bus, all torn down by the owner."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from eventwire import Eventwire, Settings, mint_token
from eventwire.topology import Topology
from eventwire_edge import EdgeServer
from eventwire_edge.settings import EdgeSettings
from eventwire_worker.settings import WorkerSettings

from .tabs import Tab

SECRET = "eventwire-tests-secret-key-that-is-long-enough-for-hs256"


class AllSettings(EdgeSettings, WorkerSettings):
    """Every service's settings, so one object configures a whole in-process cluster."""


def make_settings(amqp_url: str, **overrides: Any) -> AllSettings:
    values: dict[str, Any] = {
        "amqp_url": amqp_url,
        "webui_secret_key": SECRET,
        "namespace": f"ewtest-{uuid.uuid4().hex[:10]}",
        "host": "127.0.0.1",
        "port": 0,
        "reconnect_initial_delay": 0.1,
        "reconnect_max_delay": 0.5,
        "connect_timeout": 10,
    }
    values.update(overrides)
    return AllSettings(**values)


def token(user_id: str, **claims: Any) -> str:
    return mint_token(user_id, SECRET, **claims)


class Cluster:
    """Everything one test starts; ``close`` stops it in reverse order."""

    def __init__(self, settings: AllSettings) -> None:
        self.settings = settings
        self.edges: list[EdgeServer] = []
        self.clients: list[Eventwire] = []
        self.tabs: list[Tab] = []

    async def edge(self, **overrides: Any) -> EdgeServer:
        server = EdgeServer(self.settings.model_copy(update=overrides))
        self.edges.append(server)
        await server.start()
        return server

    async def client(self, **overrides: Any) -> Eventwire:
        ew = Eventwire(self.settings.model_copy(update=overrides))
        self.clients.append(ew)
        return await ew.connect()

    async def tab(self, edge: EdgeServer, user_id: str, *, name: str = "") -> Tab:
        tab = Tab(edge.url, token(user_id), name=name or user_id)
        self.tabs.append(tab)
        return await tab.connect()

    async def close(self) -> None:
        for tab in self.tabs:
            await tab.disconnect()
        for ew in self.clients:
            with contextlib.suppress(Exception):
                await ew.close()
        for edge in self.edges:
            with contextlib.suppress(Exception):
                await edge.stop()
        if not self.settings.uses_memory_bus:
            await delete_namespace(self.settings)


async def delete_namespace(settings: Settings) -> None:
    """Tests isolate by namespace; remove what outlives its processes (exchange, job queues).

    Left behind, durable queues pile up run after run until the broker runs out of file
    handles and stops accepting connections.
    """
    import aio_pika

    topology = Topology(settings.namespace)
    for url in settings.amqp_urls:  # the first broker of a cluster that answers
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(url)
            async with connection:
                channel = await connection.channel()
                for queue in (topology.jobs.name, topology.dead_jobs.name):
                    await channel.queue_delete(queue)
                await channel.exchange_delete(topology.events.name)
            return
