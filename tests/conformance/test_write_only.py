"""A process with no sockets (a worker, a script) driving the servers' clients."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.sio import ASK, WAIT, Cluster


async def test_write_only_process_emits_to_room_sid_and_everyone(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    ta, tb = await cluster.tab(a), await cluster.tab(b)
    await b.sio.enter_room(tb.sid, "room")
    writer = cluster.writer()

    await writer.emit("in-room", 1, room="room")
    await writer.emit("direct", 2, to=ta.sid)
    await writer.emit("everyone", 3)
    await writer.emit("skipping", 4, skip_sid=ta.sid)

    assert await tb.next() == ("in-room", (1,))
    assert await ta.next() == ("direct", (2,))
    assert await ta.next() == ("everyone", (3,))
    assert await tb.next() == ("everyone", (3,))
    assert await tb.next() == ("skipping", (4,))
    await cluster.quiet(writer.emit, ta, tb)


async def test_write_only_process_manages_rooms(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    ta, tb = await cluster.tab(a), await cluster.tab(b)
    writer = cluster.writer()

    await writer.enter_room(ta.sid, "/", "room")
    await writer.enter_room(tb.sid, "/", "room")
    await writer.emit("joined", 1, room="room")
    await writer.leave_room(ta.sid, "/", "room")
    await writer.emit("after-leave", 2, room="room")
    await writer.close_room("room", "/")
    await writer.emit("after-close", 3, room="room")

    assert await ta.next() == ("joined", (1,))
    assert await tb.next() == ("joined", (1,))
    assert await tb.next() == ("after-leave", (2,))
    await cluster.quiet(writer.emit, ta, tb)


async def test_callback_from_write_only_process(cluster: Cluster) -> None:
    a = await cluster.server()
    ta = await cluster.tab(a)
    writer = cluster.writer()
    answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    await writer.emit(ASK, "from a worker", to=ta.sid, callback=answered.set_result)

    assert await asyncio.wait_for(answered, WAIT) == {"from": ta.name, "got": "from a worker"}


async def test_disconnect_from_write_only_process(cluster: Cluster) -> None:
    a = await cluster.server()
    ta, stays = await cluster.tab(a), await cluster.tab(a)
    writer = cluster.writer()

    await writer.disconnect(ta.sid, "/")

    await asyncio.wait_for(ta.gone.wait(), WAIT)
    await cluster.quiet(writer.emit, stays)
