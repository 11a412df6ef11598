"""The demo page's server side: the page itself, the dev login, and the workers' model list."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventwire import verify_token
from eventwire.errors import ConfigurationError
from eventwire_edge import EdgeServer
from eventwire_worker import Worker, load_plugins
from tests.support.cluster import SECRET, Cluster, make_settings, token
from tests.support.http import get, post
from tests.support.tabs import Tab

PLUGINS = Path(__file__).parent.parent / "plugins"


@pytest.fixture
async def memory_cluster() -> AsyncIterator[Cluster]:
    c = Cluster(make_settings(f"memory://{uuid.uuid4().hex}"))
    try:
        yield c
    finally:
        await c.close()


async def test_models_come_from_a_worker_first_answer_wins(cluster: Cluster) -> None:
    edge = await cluster.edge()
    status, body, _ = await get(f"{edge.url}/api/models", token=token("alice"))
    assert status == 503
    assert "no worker is running" in body["detail"]

    workers = [Worker(cluster.settings, load_plugins(PLUGINS)) for _ in range(2)]
    try:
        for worker in workers:
            await worker.start()
        status, body, _ = await get(f"{edge.url}/api/models", token=token("alice"))
        assert status == 200, body
        ids = {m["id"] for m in body["data"]}
        assert {"asker", "slow", "streamer"} <= ids
        assert {m["owned_by"] for m in body["data"]} == {"eventwire"}
        assert "marker_filter" not in ids  # filters are not models
    finally:
        for worker in workers:
            await worker.close()


async def test_models_need_a_token(memory_cluster: Cluster) -> None:
    edge = await memory_cluster.edge()
    status, body, _ = await get(f"{edge.url}/api/models")
    assert status == 401
    assert "bearer" in body["detail"]


async def test_dev_login_is_refused_unless_enabled(memory_cluster: Cluster) -> None:
    edge = await memory_cluster.edge()
    status, body = await post(f"{edge.url}/api/dev/token", {"name": "alice"})
    assert status == 403
    assert "EVENTWIRE_DEV_LOGIN" in body["detail"]


async def test_dev_login_mints_a_token_the_socket_accepts(memory_cluster: Cluster) -> None:
    edge = await memory_cluster.edge(dev_login=True)
    status, body = await post(f"{edge.url}/api/dev/token", {"name": "alice"})
    assert status == 200, body
    assert verify_token(body["token"], SECRET).id == "alice"
    assert body["user"] == {"id": "alice", "name": "alice", "role": "user"}
    tab = Tab(edge.url, body["token"], name="alice")
    memory_cluster.tabs.append(tab)
    await tab.connect()

    status, body = await post(f"{edge.url}/api/dev/token", {"name": "no spaces"})
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "name"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.org"])
def test_dev_login_never_beyond_loopback(host: str) -> None:
    settings = make_settings("memory://", dev_login=True, host=host)
    with pytest.raises(ConfigurationError, match="loopback"):
        EdgeServer(settings)


async def test_the_page_and_its_official_socketio_client_are_served(
    memory_cluster: Cluster,
) -> None:
    edge = await memory_cluster.edge()
    status, html, headers = await get(f"{edge.url}/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "script-src 'self' 'unsafe-eval'" in headers["Content-Security-Policy"]
    assert '<script type="module" src="/static/app.js">' in html
    status, script, _ = await get(f"{edge.url}/static/app.js")
    assert status == 200
    assert "socket.on('events', onEvent)" in script
    # Built by make from the npm package (services/edge/package.json), never hand-written.
    status, client, _ = await get(f"{edge.url}/static/vendor/socket.io.min.js")
    assert status == 200
    assert client.startswith("/*!\n * Socket.IO v4.")
