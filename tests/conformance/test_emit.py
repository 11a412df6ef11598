"""Emits across servers: to a room, to a sid, to everyone, skipping sids, per namespace."""

from __future__ import annotations

from tests.support.sio import Cluster


async def test_emit_to_room_reaches_its_members_on_every_server(cluster: Cluster) -> None:
    a, b, c = [await cluster.server() for _ in range(3)]
    ta, tb, tc = await cluster.tab(a), await cluster.tab(b), await cluster.tab(c)
    await a.sio.enter_room(ta.sid, "news")
    await b.sio.enter_room(tb.sid, "news")

    await c.sio.emit("headline", {"n": 1}, room="news")

    assert await ta.next() == ("headline", ({"n": 1},))
    assert await tb.next() == ("headline", ({"n": 1},))
    await cluster.quiet(c.sio.emit, tc)


async def test_emit_to_sid_on_another_server(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    ta, tb1, tb2 = await cluster.tab(a), await cluster.tab(b), await cluster.tab(b)

    await a.sio.emit("direct", "for tb1", to=tb1.sid)

    assert await tb1.next() == ("direct", ("for tb1",))
    await cluster.quiet(a.sio.emit, ta, tb2)


async def test_emit_to_everyone_reaches_every_server(cluster: Cluster) -> None:
    a, b, c = [await cluster.server() for _ in range(3)]
    tabs = [await cluster.tab(s) for s in (a, b, b, c)]

    await b.sio.emit("all", [1, 2, 3])

    for tab in tabs:
        assert await tab.next() == ("all", ([1, 2, 3],))


async def test_skip_sid_is_honoured_on_other_servers(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    ta, tb1, tb2 = await cluster.tab(a), await cluster.tab(b), await cluster.tab(b)
    for tab, server in ((ta, a), (tb1, b), (tb2, b)):
        await server.sio.enter_room(tab.sid, "room")

    await a.sio.emit("to-all", 1, skip_sid=tb1.sid)
    await a.sio.emit("to-room", 2, room="room", skip_sid=[ta.sid, tb2.sid])

    assert await ta.next() == ("to-all", (1,))
    assert await tb2.next() == ("to-all", (1,))
    assert await tb1.next() == ("to-room", (2,))
    await cluster.quiet(a.sio.emit, ta, tb1, tb2)


async def test_emit_to_several_rooms_reaches_each_member_once(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    both, only_one, neither = await cluster.tab(b), await cluster.tab(b), await cluster.tab(b)
    for room in ("r1", "r2"):
        await b.sio.enter_room(both.sid, room)
    await b.sio.enter_room(only_one.sid, "r2")

    await a.sio.emit("multi", "x", to=["r1", "r2"])

    assert await both.next() == ("multi", ("x",))
    assert await only_one.next() == ("multi", ("x",))
    await cluster.quiet(a.sio.emit, both, only_one, neither)


async def test_arguments_travel_as_given(cluster: Cluster) -> None:
    """Several arguments (a tuple), binary data, no argument at all."""
    a, b = await cluster.server(), await cluster.server()
    tb = await cluster.tab(b)

    await a.sio.emit("several", ("text", 42, {"k": [1.5, None]}), to=tb.sid)
    await a.sio.emit("binary", b"\x00\xffbytes", to=tb.sid)
    await a.sio.emit("nothing", to=tb.sid)

    assert await tb.next() == ("several", ("text", 42, {"k": [1.5, None]}))
    assert await tb.next() == ("binary", (b"\x00\xffbytes",))
    assert await tb.next() == ("nothing", ())


async def test_namespaces_are_separate(cluster: Cluster) -> None:
    a, b = await cluster.server(), await cluster.server()
    root, chat = await cluster.tab(b), await cluster.tab(b, namespace="/chat")
    await b.sio.enter_room(chat.sid, "room", namespace="/chat")

    await a.sio.emit("hello", "root")
    await a.sio.emit("hello", "chat", namespace="/chat")
    await a.sio.emit("in-room", "chat", room="room", namespace="/chat")
    await a.sio.emit("in-room", "root", room="room")

    assert await root.next() == ("hello", ("root",))
    assert await chat.next() == ("hello", ("chat",))
    assert await chat.next() == ("in-room", ("chat",))
    await cluster.quiet(a.sio.emit, root, chat)


async def test_emit_reaches_only_servers_holding_members(cluster: Cluster) -> None:
    """Routed, not broadcast: a server with no member of the room never sees the emit."""
    a, b, c = [await cluster.server() for _ in range(3)]
    tb, tc = await cluster.tab(b), await cluster.tab(c)
    await b.sio.enter_room(tb.sid, "room")
    before = cluster.flavor.emits_handled(c.manager)

    await a.sio.emit("routed", 1, room="room")

    assert await tb.next() == ("routed", (1,))
    await cluster.quiet(a.sio.emit, tc)  # published after: c has seen everything before it

    assert cluster.flavor.emits_handled(c.manager) - before == 1  # the marker only
