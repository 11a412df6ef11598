"""Real Socket.IO servers (aiohttp, free ports) and real clients around one client manager.

A ``Cluster`` owns everything one test starts and stops it in reverse order, then has the
``Flavor`` (which client manager, on which broker: ``tests/conformance/flavors.py``) remove
what its managers left on the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import socketio
from aiohttp import web

from eventwire.settings import Settings
from eventwire_edge.sio import EventwireManager

from .cluster import delete_namespace

WAIT = 20.0  # safety net for an event that should come; never a synchronisation
ASK = "ask"  # the event every tab answers with {"from": name, "got": data}
ASK_PAIR = "ask-pair"  # answered with two arguments
HOLD = "hold"  # never answered: the tab holds the call until it disconnects


class Flavor(Protocol):
    name: str

    def manager(self, channel: str, *, write_only: bool = False) -> Any: ...

    async def listening(self, manager: Any, listeners: int) -> None:
        """Return once a server's manager receives what is published (python-socketio
        starts its listener in the background when the first client connects);
        ``listeners``: how many servers of the test listen on the channel by now."""

    def emits_handled(self, manager: Any) -> int:
        """Emits from other processes this server's manager has looked at."""

    async def close(self, manager: Any) -> None: ...

    async def cleanup(self, channel: str) -> None: ...


class EventwireFlavor:
    name = "eventwire"

    def __init__(self, amqp_url: str, **options: Any) -> None:
        """``options``: settings (``outbox_limit`` ...) and manager keywords."""
        self._url = amqp_url
        keywords = {"control_timeout", "fail_on_disconnect"}
        self._manager_options = {k: v for k, v in options.items() if k in keywords}
        self._settings_options = {k: v for k, v in options.items() if k not in keywords}

    def _settings(self, channel: str) -> Settings:
        values: dict[str, Any] = {
            "amqp_url": self._url,
            "namespace": channel,
            "reconnect_initial_delay": 0.1,
            "reconnect_max_delay": 0.5,
            "connect_timeout": 10,
            **self._settings_options,
        }
        return Settings.model_validate(values)

    def manager(self, channel: str, *, write_only: bool = False) -> EventwireManager:
        return EventwireManager(
            settings=self._settings(channel), write_only=write_only, **self._manager_options
        )

    async def listening(self, manager: Any, listeners: int) -> None:
        """Nothing to wait for: a client's CONNECT is sent after its keys are bound."""

    def emits_handled(self, manager: Any) -> int:
        return int(manager.stats.emits_received)

    async def close(self, manager: Any) -> None:
        await manager.close()

    async def cleanup(self, channel: str) -> None:
        settings = self._settings(channel)
        if not settings.uses_memory_bus:
            await delete_namespace(settings)


class Server:
    """One ``socketio.AsyncServer`` on its own port, accepting every namespace."""

    def __init__(self, manager: Any, name: str, **options: Any) -> None:
        self.name = name
        self.manager = manager
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", client_manager=manager, namespaces="*", logger=False, **options
        )
        self.app = web.Application()
        self.sio.attach(self.app)
        self._runner = web.AppRunner(self.app)
        self.url = ""

    async def start(self) -> Server:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.shutdown()
        await self._runner.cleanup()


class Tab:
    """A ``socketio.AsyncClient`` that records every event and answers ``ASK`` calls."""

    def __init__(self, server: Server, name: str, namespace: str = "/") -> None:
        self.server = server
        self.name = name
        self.namespace = namespace
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self.held = asyncio.Event()  # a HOLD call arrived
        self.gone = asyncio.Event()
        self._release = asyncio.Event()
        self.client.on("*", self._on_any, namespace=namespace)
        self.client.on("disconnect", self._on_disconnect, namespace=namespace)

    @property
    def sid(self) -> str:
        sid = self.client.get_sid(self.namespace)
        if sid is None:
            raise RuntimeError(f"tab {self.name} is not connected")
        return str(sid)

    async def connect(self) -> Tab:
        await self.client.connect(
            self.server.url,
            namespaces=[self.namespace],
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        return self

    async def disconnect(self) -> None:
        self._release.set()
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    async def next(self) -> tuple[str, tuple[Any, ...]]:
        """The next event this tab received (name, arguments)."""
        return await asyncio.wait_for(self.received.get(), WAIT)

    async def _on_any(self, event: str, *args: Any) -> Any:
        if event == ASK:
            return {"from": self.name, "got": args[0] if args else None}
        if event == ASK_PAIR:
            return self.name, len(args)
        if event == HOLD:
            self.held.set()
            await self._release.wait()
            return None
        self.received.put_nowait((event, args))
        return None

    async def _on_disconnect(self, *_reason: Any) -> None:
        self.gone.set()


class Cluster:
    """Servers, tabs and write-only managers of one test, on one private channel."""

    def __init__(self, flavor: Flavor) -> None:
        self.flavor = flavor
        self.channel = f"ewsio-{uuid.uuid4().hex[:12]}"
        self.servers: list[Server] = []
        self.tabs: list[Tab] = []
        self.writers: list[Any] = []
        self._listening: set[int] = set()

    async def server(self, **options: Any) -> Server:
        """``options``: ``socketio.AsyncServer`` keywords."""
        server = Server(self.flavor.manager(self.channel), f"s{len(self.servers)}", **options)
        self.servers.append(server)
        return await server.start()

    async def tab(self, server: Server, namespace: str = "/", name: str = "") -> Tab:
        tab = Tab(server, name or f"t{len(self.tabs)}", namespace)
        self.tabs.append(tab)
        await tab.connect()
        if id(server) not in self._listening:
            self._listening.add(id(server))
            await self.flavor.listening(server.manager, len(self._listening))
        return tab

    def writer(self) -> Any:
        """A write-only manager: a process with no sockets (a worker, a script)."""
        manager = self.flavor.manager(self.channel, write_only=True)
        self.writers.append(manager)
        return manager

    async def quiet(self, emit: Callable[..., Awaitable[Any]], *tabs: Tab) -> None:
        """Assert ``tabs`` received nothing more: a marker emitted after everything else by
        the same emitter must be the next event each of them gets."""
        for tab in tabs:
            marker = uuid.uuid4().hex
            await emit("quiet", marker, to=tab.sid, namespace=tab.namespace)
            assert await tab.next() == ("quiet", (marker,)), f"{tab.name} got more"

    async def close(self) -> None:
        for tab in self.tabs:
            await tab.disconnect()
        for server in self.servers:
            await server.stop()
        for manager in [s.manager for s in self.servers] + self.writers:
            with contextlib.suppress(Exception):
                await self.flavor.close(manager)
        await self.flavor.cleanup(self.channel)
