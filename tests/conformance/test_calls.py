"""Callbacks and ``call()`` to a sid on another server, and how they fail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from eventwire.errors import ClientDisconnected, SessionOffline
from tests.support.sio import ASK, ASK_PAIR, HOLD, WAIT, Cluster

# The timeout of calls expected to fail: eventwire fails them before it, the references
# only when it expires (their known limits), so it bounds those runs.
SHORT = 3.0


async def test_callback_from_another_server(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    await cluster.tab(a)
    tb = await cluster.tab(b)
    answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    await a.sio.emit(ASK, "question", to=tb.sid, callback=answered.set_result)

    assert await asyncio.wait_for(answered, WAIT) == {"from": tb.name, "got": "question"}


async def test_call_to_a_sid_on_another_server(cluster: Cluster) -> None:
    a, b, c = [await cluster.server() for _ in range(3)]
    await cluster.tab(a)
    tb, tc = await cluster.tab(b), await cluster.tab(c)

    answer = await a.sio.call(ASK, {"q": 1}, to=tb.sid, timeout=WAIT)
    pair = await a.sio.call(ASK_PAIR, ("x", "y"), to=tc.sid, timeout=WAIT)

    assert answer == {"from": tb.name, "got": {"q": 1}}
    assert pair == (tc.name, 2)


async def test_call_from_a_server_without_clients(cluster: Cluster) -> None:
    """E.g. a replica that just started, or one whose clients all left."""
    a, b = await cluster.server(), await cluster.server()
    tb = await cluster.tab(b)

    answer = await a.sio.call(ASK, "anyone?", to=tb.sid, timeout=SHORT)

    assert answer == {"from": tb.name, "got": "anyone?"}


async def test_call_to_a_sid_on_the_same_server(cluster: Cluster) -> None:
    a = await cluster.server()
    ta = await cluster.tab(a)

    assert await a.sio.call(ASK, "here", to=ta.sid, timeout=WAIT) == {
        "from": ta.name,
        "got": "here",
    }


async def test_call_times_out_when_the_client_does_not_answer(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    await cluster.tab(a)
    tb = await cluster.tab(b)

    with pytest.raises(socketio.exceptions.TimeoutError):
        await a.sio.call(HOLD, to=tb.sid, timeout=0.5)
    assert tb.held.is_set()


async def test_call_to_sid_on_no_server_fails_at_once(cluster: Cluster) -> None:
    a = await cluster.server()
    await cluster.tab(a)

    with pytest.raises(socketio.exceptions.TimeoutError) as failure:
        await a.sio.call(ASK, to="no-server-holds-this-sid", timeout=SHORT)

    assert isinstance(failure.value, SessionOffline), "failed only when the timeout expired"


async def test_call_fails_when_client_leaves_mid_call(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    await cluster.tab(a)
    tb = await cluster.tab(b)
    call = asyncio.create_task(a.sio.call(HOLD, to=tb.sid, timeout=SHORT))
    await asyncio.wait_for(tb.held.wait(), WAIT)

    await tb.disconnect()

    with pytest.raises(socketio.exceptions.TimeoutError) as failure:
        await call
    assert isinstance(failure.value, ClientDisconnected), "failed only when the timeout expired"
