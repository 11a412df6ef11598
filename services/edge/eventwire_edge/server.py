"""The edge node's HTTP side: the Socket.IO endpoint, the API, health, metrics, the demo page.

``/healthz`` is liveness (200 while the process's loop answers); ``/readyz`` is readiness (503
while the node has no broker connection or drains); ``/metrics`` is Prometheus text. SIGTERM
drains the node (``drain.py``) before it stops; SIGINT stops it at once.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client.aiohttp import make_aiohttp_handler

from eventwire.backends import open_bus
from eventwire.bus import Bus
from eventwire.settings import refuse_default_secret
from eventwire.signals import wait_for_signal

from . import heap
from .api import Api, check_dev_login, json_errors
from .metrics import edge_registry
from .node import EdgeNode
from .page import register_page
from .settings import EdgeSettings

log = logging.getLogger(__name__)

SOCKETIO_PATH = "/ws/socket.io"  # Open WebUI's; the browser's socket.io-client connects here

NODE_KEY: web.AppKey[EdgeNode] = web.AppKey("node", EdgeNode)


def create_app(node: EdgeNode) -> web.Application:
    app = web.Application(
        client_max_size=node.settings.max_payload_bytes,
        middlewares=[json_errors, refuse_sockets_while_draining],
    )
    app[NODE_KEY] = node
    node.sio.attach(app, socketio_path=SOCKETIO_PATH)
    Api(node).register(app)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", make_aiohttp_handler(edge_registry(node)))
    app.router.add_get("/stats", _stats)
    register_page(app)
    return app


@web.middleware
async def refuse_sockets_while_draining(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """A draining node takes no new Socket.IO connection: an HTTP 503 on the handshake, which
    clients treat as a failed attempt and retry (through the balancer, elsewhere). Refusing
    the Socket.IO CONNECT instead would make socket.io-client give up."""
    node = request.app[NODE_KEY]
    if node.draining and request.path.startswith(SOCKETIO_PATH) and "sid" not in request.query:
        return web.json_response(
            {"detail": f"edge node {node.node_id} is draining; connect to another"}, status=503
        )
    return await handler(request)


def _health(node: EdgeNode) -> dict[str, Any]:
    return {
        "node": node.node_id,
        "broker_connected": node.bus.connected,
        "draining": node.draining,
    }


async def _healthz(request: web.Request) -> web.Response:
    """Liveness: answering at all means the process and its event loop run."""
    return web.json_response({"status": "ok", **_health(request.app[NODE_KEY])})


async def _readyz(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    if node.ready:
        return web.json_response({"status": "ok", **_health(node)})
    return web.json_response({"status": "unavailable", **_health(node)}, status=503)


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[NODE_KEY].describe())


class EdgeServer:
    """An edge node listening on a port; ``port=0`` picks a free one (see ``.port``)."""

    def __init__(self, settings: EdgeSettings, bus: Bus | None = None) -> None:
        refuse_default_secret(settings, what="the edge", listen_host=settings.host)
        check_dev_login(settings)
        self.settings = settings
        self.node = EdgeNode(settings, bus or open_bus(settings))
        self.app = create_app(self.node)
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        self.port = settings.port

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        await self.node.start()
        await self._runner.setup()
        backlog = self.settings.listen_backlog
        sock = socket.create_server(
            (self.settings.host, self.settings.port), reuse_port=False, backlog=backlog
        )
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, backlog=backlog).start()
        log.info("edge node %s listening on %s", self.node.node_id, self.url)

    async def drain(self) -> None:
        """Hand the sockets to other nodes (SIGTERM), within ``EVENTWIRE_DRAIN_GRACE``."""
        await self.node.drain(self.settings.edge_drain_grace)

    async def stop(self) -> None:
        await self.node.stop()
        await self._runner.cleanup()


async def serve_forever(
    server: EdgeServer, on_ready: Callable[[EdgeServer], None] | None = None
) -> None:
    """Run until SIGTERM (drain, then stop) or SIGINT (stop)."""
    await server.start()
    heap.settle()  # this process is the edge's: its collector is set for many connections
    if on_ready is not None:
        on_ready(server)
    try:
        if await wait_for_signal() == signal.SIGTERM:
            await server.drain()
    finally:
        await server.stop()
