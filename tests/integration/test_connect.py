"""Who may connect, what the node binds for them, and what it answers over HTTP."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from eventwire import mint_token
from tests.support.cluster import SECRET, Cluster
from tests.support.tabs import WAIT, Refused, Tab, eventually


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, "missing token"),
        ("not-a-jwt", "token is invalid"),
        (mint_token("alice", "some-other-secret-that-is-long-enough-0123"), "signature"),
        (mint_token("alice", SECRET, expires_in=-60), "expired"),
        (mint_token("", SECRET), "'id'"),
    ],
    ids=["missing", "garbage", "forged", "expired", "no-id"],
)
async def test_bad_tokens_are_refused_with_a_reason(
    cluster: Cluster, token: str | None, expected: str
) -> None:
    edge = await cluster.edge()
    tab = Tab(edge.url, token)
    with pytest.raises(Refused) as refused:
        await tab.connect()
    assert expected in refused.value.message
    assert refused.value.data == {"code": "invalid_token"}
    assert edge.node.describe()["sessions"] == 0


async def test_bindings_are_reference_counted(cluster: Cluster) -> None:
    edge = await cluster.edge(recovery_window=0)  # with recovery each session has a mailbox
    node = edge.node
    tab1 = await cluster.tab(edge, "alice")
    tab2 = await cluster.tab(edge, "alice")
    assert node.describe()["bound_keys"] == 3  # user.alice once, two sessions
    await tab1.disconnect()
    await eventually(lambda: node.describe()["bound_keys"] == 2)

    ew = await cluster.client()
    await ew.emit({"type": "status", "data": {"description": "still"}}, user_id="alice")
    await tab2.wait_for(lambda events: len(events) == 1)

    await tab2.disconnect()
    await eventually(lambda: node.describe()["bound_keys"] == 0)


async def test_unknown_client_event_gets_an_error_event(cluster: Cluster) -> None:
    edge = await cluster.edge()
    tab = await cluster.tab(edge, "alice")
    await tab.client.emit("no-such-handler", {"x": 1})
    error = await tab.wait_for_error()
    assert error["code"] == "unknown_event"
    assert "no-such-handler" in error["message"]


async def test_health_and_stats(cluster: Cluster) -> None:
    edge = await cluster.edge()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{edge.url}/healthz") as response:
            assert response.status == 200
            body = await response.json()
        assert body["status"] == "ok"
        assert body["node"] == edge.node.node_id
        async with http.get(f"{edge.url}/stats") as response:
            stats = await response.json()
    assert stats["sessions"] == 0
    assert stats["broker_connected"] is True


async def test_stopping_a_node_disconnects_its_sockets(cluster: Cluster) -> None:
    edge = await cluster.edge()
    tab = await cluster.tab(edge, "alice")
    # Liveness, not speed: before the fix the web server waited 45 s on the open websocket.
    await asyncio.wait_for(edge.stop(), WAIT)
    await eventually(lambda: not tab.client.connected)
