"""What only eventwire's python-socketio manager does, on memory:// and on real RabbitMQ:
calls from write-only processes, fail-fast errors, cancellation, and keys that follow room
membership on the broker itself."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from eventwire.errors import Unroutable
from eventwire.protocol import SioDisconnect
from eventwire.topology import sio_all_key, sio_room_key
from eventwire_edge.sio import CallTimedOut, EventwireManager, SidDisconnected, SidOffline
from tests.support.sio import ASK, HOLD, WAIT, Cluster, EventwireFlavor, Server
from tests.support.tabs import eventually


@pytest.fixture
async def cluster(bus_url: str) -> AsyncIterator[Cluster]:
    c = Cluster(EventwireFlavor(bus_url))
    try:
        yield c
    finally:
        await c.close()


async def routed(manager: EventwireManager, key: str) -> bool:
    """Whether the broker routes ``key`` to some queue (a mandatory publish of a no-op)."""
    try:
        await manager.bus.publish(key, SioDisconnect(namespace="/", sid="-"), mandatory=True)
    except Unroutable:
        return False
    return True


async def test_write_only_process_calls_and_gets_the_answer(cluster: Cluster) -> None:
    a = await cluster.server()
    ta = await cluster.tab(a)
    writer = cluster.writer()

    answer = await writer.call(ASK, {"from": "worker"}, to=ta.sid, timeout=WAIT)

    assert answer == {"from": ta.name, "got": {"from": "worker"}}
    assert writer.describe()["calls_waiting"] == 0


async def test_calls_and_callbacks_to_a_missing_sid_fail_at_once(cluster: Cluster) -> None:
    a = await cluster.server()
    await cluster.tab(a)
    writer = cluster.writer()

    # The timeout is long: only the fail-fast path raises SidOffline.
    with pytest.raises(SidOffline):
        await writer.call(ASK, to="gone", timeout=WAIT)
    with pytest.raises(SidOffline):
        await writer.emit(ASK, 1, to="gone", callback=lambda *_: None)
    with pytest.raises(SidOffline):
        await a.sio.emit(ASK, 1, to="gone", callback=lambda *_: None)
    assert writer.describe()["calls_waiting"] == 0


async def test_write_only_call_fails_when_the_client_leaves(cluster: Cluster) -> None:
    a = await cluster.server()
    ta = await cluster.tab(a)
    writer = cluster.writer()
    call = asyncio.create_task(writer.call(HOLD, to=ta.sid, timeout=None))
    await asyncio.wait_for(ta.held.wait(), WAIT)

    await ta.disconnect()

    with pytest.raises(SidDisconnected):
        await call


async def test_local_call_fails_when_the_client_leaves(cluster: Cluster) -> None:
    a = await cluster.server()
    ta = await cluster.tab(a)
    call = asyncio.create_task(a.sio.call(HOLD, to=ta.sid, timeout=None))
    await asyncio.wait_for(ta.held.wait(), WAIT)

    await ta.disconnect()

    with pytest.raises(SidDisconnected):
        await call


async def test_cancelled_call_stops_the_far_side_waiting(cluster: Cluster) -> None:
    """Open WebUI runs sio.call(timeout=None) in a task and cancels it when it gives up."""
    a, b = await cluster.server(), await cluster.server()
    tb = await cluster.tab(b)
    call = asyncio.create_task(a.sio.call(HOLD, to=tb.sid, timeout=None))
    await asyncio.wait_for(tb.held.wait(), WAIT)
    assert b.manager.describe()["calls_serving"] == 1

    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call

    await eventually(lambda: b.manager.describe()["calls_serving"] == 0)
    assert a.manager.describe()["calls_waiting"] == 0


async def test_call_times_out_with_the_named_error(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    tb = await cluster.tab(b)

    with pytest.raises(CallTimedOut) as failure:
        await a.sio.call(HOLD, to=tb.sid, timeout=0.3)

    assert isinstance(failure.value, socketio.exceptions.TimeoutError)
    assert isinstance(failure.value, TimeoutError)


async def test_keys_follow_room_membership_on_the_broker(cluster: Cluster) -> None:
    b = await cluster.server()
    writer = cluster.writer()
    await writer.start()
    room = sio_room_key("/", "room")
    assert not await routed(writer, room)

    first = await cluster.tab(b)
    second = await cluster.tab(b)
    sids = (first.sid, second.sid)
    for sid in sids:
        await b.sio.enter_room(sid, "room")
    assert await routed(writer, room)
    assert await routed(writer, sio_room_key("/", first.sid))

    await b.sio.leave_room(first.sid, "room")
    assert await routed(writer, room)  # second is still in it
    await second.disconnect()
    await eventually(lambda: sids[1] not in b.manager.rooms.get("/", {}).get(None, {}))
    assert not await routed(writer, room)

    await first.disconnect()
    await eventually(lambda: not b.manager.describe()["bound_keys"])
    assert not await routed(writer, sio_all_key("/"))
    assert not await routed(writer, sio_room_key("/", sids[0]))


async def test_long_and_unusual_room_names_route(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    tb = await cluster.tab(b)
    rooms = ["é" * 300, "#not-a-hash", "with.dots.and spaces", ""]
    for room in rooms:
        await b.sio.enter_room(tb.sid, room)

    for room in rooms:
        await a.sio.emit("in", room, room=room)

    for room in rooms:
        assert await tb.next() == ("in", (room,))


async def test_install_into_an_existing_server(cluster: Cluster) -> None:
    """How a launcher puts the manager into an application's ready-made AsyncServer."""
    manager: Any = cluster.flavor.manager(cluster.channel)
    server = Server(socketio.AsyncManager(), "installed")
    manager.install(server.sio)
    server.manager = manager
    cluster.servers.append(server)
    await server.start()
    tab = await cluster.tab(server)
    writer = cluster.writer()

    await writer.emit("hello", 1, to=tab.sid)
    assert await tab.next() == ("hello", (1,))
    assert await server.sio.call(ASK, 2, to=tab.sid, timeout=WAIT) == {"from": tab.name, "got": 2}


async def test_waiting_out_the_timeout_when_told_to(bus_url: str) -> None:
    """``fail_on_disconnect=False``: python-socketio's rule, for apps that resume elsewhere."""
    cluster = Cluster(EventwireFlavor(bus_url, fail_on_disconnect=False))
    try:
        a, b = await cluster.server(), await cluster.server()
        tb = await cluster.tab(b)
        call = asyncio.create_task(a.sio.call(HOLD, to=tb.sid, timeout=1))
        await asyncio.wait_for(tb.held.wait(), WAIT)

        await tb.disconnect()

        with pytest.raises(CallTimedOut):
            await call
    finally:
        await cluster.close()


class _LenientJson:
    """A JSON module like Open WebUI's orjson codec, which renders datetimes."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, default=str, **kwargs)

    loads = staticmethod(json.loads)


async def test_values_msgpack_cannot_carry_travel_as_the_json_module_renders_them(
    cluster: Cluster,
) -> None:
    a = await cluster.server()
    ta = await cluster.tab(a)
    writer = cluster.writer()
    writer.json = _LenientJson
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)

    await writer.emit("dated", {"at": when, "n": 1}, to=ta.sid)

    assert await ta.next() == ("dated", ({"at": str(when), "n": 1},))


class _JsonOnlyPacket(socketio.packet.Packet):  # type: ignore[misc]
    """Like Open WebUI's JSONOnlyPacket: no binary scan per emit."""

    uses_binary_events = False


async def test_servers_configured_as_open_webui_configures_its_own(cluster: Cluster) -> None:
    """Open WebUI 0.12.4: always_connect, a JSON-only packet class, its own json module."""
    options = {"always_connect": True, "serializer": _JsonOnlyPacket, "json": _LenientJson}
    a, b = await cluster.server(**options), await cluster.server(**options)
    ta, tb = await cluster.tab(a), await cluster.tab(b)
    await a.sio.enter_room(ta.sid, "user:1")
    await b.sio.enter_room(tb.sid, "user:1")
    when = datetime.datetime(2025, 5, 6, 7, 8, 9)

    await b.sio.emit("events", {"at": when}, room="user:1")
    answer = await a.sio.call(ASK, "confirm?", to=tb.sid, timeout=WAIT)

    assert await ta.next() == ("events", ({"at": str(when)},))
    assert await tb.next() == ("events", ({"at": str(when)},))
    assert answer == {"from": tb.name, "got": "confirm?"}


async def test_initialize_connects_ahead_of_first_use(cluster: Cluster) -> None:
    """python-socketio (and Open WebUI's lifespan) call initialize() without awaiting."""
    manager = cluster.flavor.manager(cluster.channel)
    cluster.writers.append(manager)  # closed with the cluster

    manager.initialize()

    await eventually(lambda: manager.connected)
