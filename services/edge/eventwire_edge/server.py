"""The edge node's HTTP side: the Socket.IO endpoint, the API, health and stats, the demo page."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from eventwire.backends import open_bus
from eventwire.bus import Bus
from eventwire.settings import refuse_default_secret
from eventwire.signals import wait_for_signal

from .api import Api, check_dev_login, json_errors
from .node import EdgeNode
from .page import register_page
from .settings import EdgeSettings

log = logging.getLogger(__name__)

SOCKETIO_PATH = "/ws/socket.io"  # Open WebUI's; the browser's socket.io-client connects here

NODE_KEY: web.AppKey[EdgeNode] = web.AppKey("node", EdgeNode)


def create_app(node: EdgeNode) -> web.Application:
    app = web.Application(
        client_max_size=node.settings.max_payload_bytes, middlewares=[json_errors]
    )
    app[NODE_KEY] = node
    node.sio.attach(app, socketio_path=SOCKETIO_PATH)
    Api(node).register(app)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/stats", _stats)
    register_page(app)
    return app


async def _healthz(request: web.Request) -> web.Response:
    node = request.app[NODE_KEY]
    body: dict[str, Any] = {"node": node.node_id, "broker_connected": node.bus.connected}
    if node.ready:
        return web.json_response({"status": "ok", **body})
    return web.json_response({"status": "unavailable", **body}, status=503)


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
        sock = socket.create_server((self.settings.host, self.settings.port), reuse_port=False)
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        log.info("edge node %s listening on %s", self.node.node_id, self.url)

    async def stop(self) -> None:
        await self.node.stop()
        await self._runner.cleanup()


async def serve_forever(
    server: EdgeServer, on_ready: Callable[[EdgeServer], None] | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then stop cleanly."""
    await server.start()
    if on_ready is not None:
        on_ready(server)
    try:
        await wait_for_signal()
    finally:
        await server.stop()
