"""deploy/haproxy/haproxy.cfg: `haproxy -c`, then HAProxy live in front of two real edges.

The edges are `eventwire edge` processes on the private RabbitMQ node booted from
deploy/rabbitmq (with the definitions' application user and vhost), the clients real
python-socketio clients connecting through HAProxy; the event comes from an SDK process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from eventwire import Eventwire
from tests.support.cluster import SECRET, make_settings, token
from tests.support.procs import EdgeProc
from tests.support.tabs import SOCKETIO_PATH, WAIT, Tab, eventually

from .conftest import Owned
from .contract import tool
from .haproxy import CONFIG, HaproxyProc, free_port, haproxy_env
from .rabbit import VHOST, DeployRabbitNode


def check(values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("haproxy"), "-c", "-f", str(CONFIG)],
        env=haproxy_env(values),
        capture_output=True,
        text=True,
        check=False,
    )


def test_config_is_valid_with_the_compose_defaults() -> None:
    result = check({})
    assert result.returncode == 0, result.stderr
    # Only the compose host names, which do not resolve here, may be warned about.
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert all("could not resolve address 'edge" in w for w in warnings), warnings


def test_config_is_valid_as_the_tests_render_it() -> None:
    result = check(
        {
            "HAPROXY_BIND": "127.0.0.1:18080",
            "HAPROXY_STATS_BIND": "127.0.0.1:18404",
            "EDGE1": "127.0.0.1:18081",
            "EDGE2": "127.0.0.1:18082",
        }
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr and "ALERT" not in result.stderr, result.stderr


def test_a_broken_config_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(CONFIG.read_text().replace("balance leastconn", "balance fastest"))
    result = subprocess.run(
        [tool("haproxy"), "-c", "-f", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def edge_env(rabbit: DeployRabbitNode) -> dict[str, str]:
    return {
        "AMQP_URL": rabbit.app_url,
        "WEBUI_SECRET_KEY": SECRET,
        "EVENTWIRE_NAMESPACE": VHOST,  # the definitions' permissions allow `eventwire.*` only
        "EVENTWIRE_RECONNECT_INITIAL_DELAY": "0.1",
        "EVENTWIRE_RECONNECT_MAX_DELAY": "0.5",
        "EVENTWIRE_LOG_LEVEL": "WARNING",
    }


async def sessions(edge: EdgeProc) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{edge.url}/stats") as response:
        stats: dict[str, Any] = await response.json()
    return int(stats["sessions"])


def notification(text: str) -> dict[str, Any]:
    return {"type": "notification", "data": {"type": "info", "content": text}}


def received(tab: Tab, text: str) -> bool:
    return any(e["data"].get("data", {}).get("content") == text for e in tab.events)


async def balanced_edges(
    rabbit: DeployRabbitNode, owned: Owned, tmp_path: Path
) -> tuple[EdgeProc, EdgeProc, HaproxyProc]:
    """Two edges and HAProxy in front of them, once it reports both up."""
    env = edge_env(rabbit)
    a = await owned.add(EdgeProc(env, "edge-a")).start()
    b = await owned.add(EdgeProc(env, "edge-b")).start()
    haproxy = await owned.add(
        HaproxyProc(
            {
                "HAPROXY_BIND": f"127.0.0.1:{free_port()}",
                "HAPROXY_STATS_BIND": f"127.0.0.1:{free_port()}",
                "EDGE1": a.url.removeprefix("http://"),
                "EDGE2": b.url.removeprefix("http://"),
            },
            tmp_path / "haproxy.log",
        )
    ).start()
    await eventually(lambda: _all_up(haproxy))
    return a, b, haproxy


async def test_websocket_clients_through_haproxy(
    deploy_rabbit: DeployRabbitNode, owned: Owned, tmp_path: Path
) -> None:
    a, b, haproxy = await balanced_edges(deploy_rabbit, owned, tmp_path)

    # leastconn: a long-lived websocket counts, so the second tab goes to the other edge.
    user = f"alice-{uuid.uuid4().hex[:6]}"
    tabs = [Tab(haproxy.url, token(user), name=f"tab{i}") for i in range(2)]
    try:
        for tab in tabs:
            await tab.connect()  # websocket transport only (the Tab default)
        assert [await sessions(a), await sessions(b)] == [1, 1]

        settings = make_settings(deploy_rabbit.app_url, namespace=VHOST)
        async with Eventwire(settings) as ew:
            await ew.emit(notification("through haproxy"), user_id=user)
            for tab in tabs:
                await tab.wait_for(lambda _events, t=tab: received(t, "through haproxy"))

            # An edge that goes away is taken out of rotation by its health check.
            await b.stop()
            await eventually(lambda: _status_of(haproxy, "edge2", "DOWN"))
            late = Tab(haproxy.url, token(user), name="late")
            tabs.append(late)
            await late.connect()
            assert await sessions(a) == 2
            await ew.emit(notification("after edge-b left"), user_id=user)
            await late.wait_for(lambda _events: received(late, "after edge-b left"))
    finally:
        for tab in tabs:
            await tab.disconnect()


async def test_long_polling_clients_stick_to_their_edge(
    deploy_rabbit: DeployRabbitNode, owned: Owned, tmp_path: Path
) -> None:
    a, b, haproxy = await balanced_edges(deploy_rabbit, owned, tmp_path)

    user = f"bob-{uuid.uuid4().hex[:6]}"
    # Each poll is a new HTTP request: without the balancer's cookie they would be spread over
    # both edges, and an edge that does not hold the session answers 400. (aiohttp keeps the
    # cookies of IP-address hosts only in an `unsafe` jar.)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        poll = Polling(http, f"{haproxy.url}{SOCKETIO_PATH}/")
        await poll.open(token(user))
        assert "EWEDGE" in {cookie.key for cookie in http.cookie_jar}
        settings = make_settings(deploy_rabbit.app_url, namespace=VHOST)
        async with Eventwire(settings) as ew:
            texts = []
            for i in range(6):
                await ew.emit(notification(f"poll {i}"), user_id=user)
                texts += [e["data"]["data"]["content"] for e in await poll.events()]
        assert sorted([await sessions(a), await sessions(b)]) == [0, 1]  # one session, one edge
        await poll.close()
    assert texts == [f"poll {i}" for i in range(6)]


class Polling:
    """A Socket.IO client on Engine.IO's long-polling transport, spoken by hand.

    (python-socketio's client can poll too, but its disconnect waits out a pending poll, up
    to the server's 25 s ping interval.)
    """

    SEPARATOR = "\x1e"

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.sid = ""

    def _params(self) -> dict[str, str]:
        params = {"EIO": "4", "transport": "polling"}
        return {**params, "sid": self.sid} if self.sid else params

    async def _get(self) -> list[str]:
        async with asyncio.timeout(WAIT), self.http.get(self.url, params=self._params()) as r:
            assert r.status == 200, await r.text()
            return (await r.text()).split(self.SEPARATOR)

    async def _post(self, *packets: str) -> None:
        body = self.SEPARATOR.join(packets)
        async with self.http.post(self.url, params=self._params(), data=body) as r:
            assert r.status == 200, await r.text()

    async def open(self, token: str) -> None:
        (handshake,) = await self._get()
        assert handshake.startswith("0")  # Engine.IO open
        self.sid = json.loads(handshake[1:])["sid"]
        await self._post("40" + json.dumps({"token": token}))  # Socket.IO connect with auth
        (connected,) = await self._get()
        assert connected.startswith("40{"), connected

    async def events(self) -> list[dict[str, Any]]:
        """The `events` packets of the next polls that carry any (pings are answered)."""
        out: list[dict[str, Any]] = []
        while not out:
            for packet in await self._get():
                if packet == "2":
                    await self._post("3")
                elif packet.startswith("42"):
                    name, data, *_offset = json.loads(packet[2:])  # recovery: an offset last
                    if name == "events":
                        out.append(data)
        return out

    async def close(self) -> None:
        await self._post("41", "1")  # Socket.IO disconnect, Engine.IO close


async def _all_up(haproxy: HaproxyProc) -> bool:
    servers = await haproxy.servers()
    return bool(servers) and set(servers.values()) == {"UP"}


async def _status_of(haproxy: HaproxyProc, server: str, wanted: str) -> bool:
    return (await haproxy.servers()).get(server, "").startswith(wanted)
