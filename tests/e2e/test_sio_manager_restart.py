"""RabbitMQ restarts under servers on eventwire's python-socketio manager: emits made
meanwhile are held and delivered (to the room's members when the broker is back), calls fail
at once, rooms entered meanwhile route after.

Uses a private broker node the test owns (never the machine's shared one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from eventwire.errors import OutboxFull
from eventwire_edge.sio import CallBrokerDown
from tests.support.rabbit_node import RabbitNode
from tests.support.sio import ASK, WAIT, Cluster, EventwireFlavor
from tests.support.tabs import eventually

pytestmark = pytest.mark.e2e

OUTBOX = 5


@pytest.fixture
def rabbit() -> Iterator[RabbitNode]:
    node = RabbitNode(prefix="ewsiorestart")
    try:
        node.start()
        yield node
    finally:
        node.cleanup()


@pytest.fixture
async def cluster(rabbit: RabbitNode) -> AsyncIterator[Cluster]:
    # Queues outlive the restart (durable, x-expires), so emits flushed from an outbox
    # route before their servers have re-bound.
    c = Cluster(EventwireFlavor(rabbit.url, node_queue_expires=120, outbox_limit=OUTBOX))
    try:
        yield c
    finally:
        await c.close()


async def test_manager_rides_out_a_broker_restart(cluster: Cluster, rabbit: RabbitNode) -> None:
    a, b = await cluster.server(), await cluster.server()
    ta, tb = await cluster.tab(a), await cluster.tab(b)
    await b.sio.enter_room(tb.sid, "room")
    writer = cluster.writer()
    await writer.emit("before", 0, room="room")
    assert await tb.next() == ("before", (0,))
    managers = [a.manager, b.manager, writer]

    await asyncio.to_thread(rabbit.stop)
    await eventually(lambda: not any(m.connected for m in managers))

    with pytest.raises(CallBrokerDown):
        await a.sio.call(ASK, to=tb.sid, timeout=WAIT)  # fails, not hanging for the timeout
    for i in range(OUTBOX):
        await writer.emit("during", i, room="room")  # held in the writer's outbox
    with pytest.raises(OutboxFull):
        await writer.emit("during", OUTBOX, room="room")  # refused, never dropped silently
    await a.sio.emit("local", "still", to=ta.sid)  # a's own sockets need no broker
    assert await ta.next() == ("local", ("still",))
    late = await cluster.tab(a)
    await a.sio.enter_room(late.sid, "late room")  # bound once the broker is back
    assert writer.describe()["outbox"] == OUTBOX

    await asyncio.to_thread(rabbit.start)
    await eventually(lambda: all(m.connected for m in managers), within=60)

    for i in range(OUTBOX):
        assert await tb.next() == ("during", (i,))
    await writer.emit("after", 1, room="room")
    await writer.emit("after", 2, room="late room")
    assert await tb.next() == ("after", (1,))
    assert await late.next() == ("after", (2,))
    assert await writer.call(ASK, "again", to=tb.sid, timeout=WAIT) == {
        "from": tb.name,
        "got": "again",
    }
