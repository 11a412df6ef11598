"""Cross-origin sockets (item 6): by default only the edge's own page may open one.

A browser sends ``Origin`` with every Socket.IO request, polling and websocket alike; a page
on another site must not be able to open a socket with a token it got hold of, nor read the
answers. ``EVENTWIRE_CORS_ALLOWED_ORIGINS`` lists the other origins a deployment allows
(``*`` = any, as before).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from eventwire_edge import EdgeServer
from eventwire_edge.server import SOCKETIO_PATH
from tests.support.cluster import Cluster, make_settings

EVIL = "http://evil.example"


@pytest.fixture
async def memory() -> AsyncIterator[Cluster]:
    c = Cluster(make_settings("memory://"))
    try:
        yield c
    finally:
        await c.close()


async def handshake(edge: EdgeServer, origin: str) -> tuple[int, str | None]:
    """A polling handshake from a page at ``origin``: status and Access-Control-Allow-Origin."""
    url = f"{edge.url}{SOCKETIO_PATH}/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Origin": origin}) as r:
        return r.status, r.headers.get("Access-Control-Allow-Origin")


async def websocket_opens(edge: EdgeServer, origin: str) -> bool:
    url = edge.url.replace("http", "ws") + f"{SOCKETIO_PATH}/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(url, origin=origin) as ws:
                message = await ws.receive()
                return message.type == aiohttp.WSMsgType.TEXT and str(message.data)[0] == "0"
        except aiohttp.WSServerHandshakeError:
            return False


async def test_by_default_only_the_edges_own_page_may_open_a_socket(memory: Cluster) -> None:
    edge = await memory.edge()
    assert await handshake(edge, edge.url) == (200, edge.url)
    assert await websocket_opens(edge, edge.url)
    status, allowed = await handshake(edge, EVIL)
    assert status == 400 and allowed is None
    assert not await websocket_opens(edge, EVIL)


async def test_a_deployment_lists_the_other_origins_it_allows(memory: Cluster) -> None:
    edge = await memory.edge(cors_allowed_origins="https://chat.example.org,http://localhost:3000")
    for origin in ("https://chat.example.org", "http://localhost:3000"):
        assert await handshake(edge, origin) == (200, origin)
        assert await websocket_opens(edge, origin)
    assert (await handshake(edge, EVIL))[0] == 400
    assert await handshake(edge, edge.url) == (200, edge.url)  # its own page, always


async def test_star_allows_any_origin(memory: Cluster) -> None:
    edge = await memory.edge(cors_allowed_origins="*")
    assert await handshake(edge, EVIL) == (200, EVIL)
