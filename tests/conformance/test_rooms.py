"""Rooms managed from any server: enter, leave, close, and disconnecting a remote sid."""

from __future__ import annotations

import asyncio

from tests.support.sio import WAIT, Cluster


async def test_enter_room_for_a_sid_on_another_server(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    ta, tb = await cluster.tab(a), await cluster.tab(b)

    await a.sio.enter_room(tb.sid, "room")
    await a.sio.emit("in-room", 1, room="room")

    assert await tb.next() == ("in-room", (1,))
    await cluster.quiet(a.sio.emit, ta)


async def test_leave_room_for_a_sid_on_another_server(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    stays, leaves = await cluster.tab(b), await cluster.tab(b)
    for tab in (stays, leaves):
        await b.sio.enter_room(tab.sid, "room")

    await a.sio.leave_room(leaves.sid, "room")
    await a.sio.emit("in-room", 1, room="room")

    assert await stays.next() == ("in-room", (1,))
    await cluster.quiet(a.sio.emit, leaves)


async def test_close_room_empties_it_on_every_server(cluster: Cluster) -> None:
    a, b, c = [await cluster.server() for _ in range(3)]
    ta, tb, tc = await cluster.tab(a), await cluster.tab(b), await cluster.tab(c)
    for tab, server in ((ta, a), (tb, b)):
        await server.sio.enter_room(tab.sid, "room")
    await c.sio.enter_room(tc.sid, "other")

    await c.sio.close_room("room")
    await c.sio.emit("in-room", 1, room="room")
    await c.sio.emit("in-other", 2, room="other")

    assert await tc.next() == ("in-other", (2,))
    await cluster.quiet(c.sio.emit, ta, tb, tc)
    assert b.sio.rooms(tb.sid) == [tb.sid]  # the marker came after the close: b had it


async def test_rooms_are_per_server_and_leave_with_the_socket(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    first = await cluster.tab(b)
    await b.sio.enter_room(first.sid, "room")
    await first.disconnect()
    second = await cluster.tab(b)
    await b.sio.enter_room(second.sid, "room")

    await a.sio.emit("in-room", 1, room="room")

    assert await second.next() == ("in-room", (1,))
    assert b.manager.rooms["/"]["room"].keys() == {second.sid}


async def test_disconnect_a_sid_on_another_server(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    ta, tb = await cluster.tab(a), await cluster.tab(b)
    left: asyncio.Queue[str] = asyncio.Queue()

    @b.sio.event
    async def disconnect(sid: str, reason: str) -> None:
        left.put_nowait(sid)

    sid = tb.sid
    await a.sio.disconnect(sid)

    await asyncio.wait_for(tb.gone.wait(), WAIT)
    assert await asyncio.wait_for(left.get(), WAIT) == sid
    assert not ta.gone.is_set()
