"""The bus contract (``eventwire.bus``), the same bodies on memory:// and on RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from eventwire.bus import Bus
from eventwire.errors import Unroutable
from eventwire.protocol import CallCancel, Emit, Message
from eventwire.topology import QueueSpec

from .conftest import OpenBus

WAIT = 10.0  # safety net only


class Received:
    """An inbox handler that records what arrives and lets a test await it."""

    def __init__(self) -> None:
        self.items: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()

    async def __call__(self, key: str, message: Message) -> None:
        await self.items.put((key, message))

    async def next(self) -> tuple[str, Message]:
        return await asyncio.wait_for(self.items.get(), WAIT)


def emit(user: str, n: int = 0) -> Emit:
    return Emit(user_id=user, payload={"n": n})


def spec(bus: Bus) -> QueueSpec:
    return bus.topology.reply_queue(uuid.uuid4().hex[:8])


def test_both_backends_are_buses() -> None:
    from eventwire.amqp import AmqpBus
    from eventwire.memory import MemoryBus

    # A conformance line a type checker reads: each backend satisfies the protocol.
    _: list[type[Bus]] = [MemoryBus, AmqpBus]


async def test_a_key_reaches_the_inboxes_bound_to_it_and_no_other(buses: OpenBus) -> None:
    one, two = await buses(), await buses()
    got_a, got_b = Received(), Received()
    a = await one.open_inbox(spec(one), got_a)
    b = await two.open_inbox(spec(two), got_b)
    await a.bind("user.alice")
    await b.bind("user.bob")
    await one.publish("user.bob", emit("bob", 1), mandatory=True)
    await one.publish("user.alice", emit("alice", 2), mandatory=True)
    assert await got_a.next() == ("user.alice", emit("alice", 2))
    assert await got_b.next() == ("user.bob", emit("bob", 1))
    assert got_a.items.empty() and got_b.items.empty()


async def test_every_bound_inbox_gets_its_own_copy(buses: OpenBus) -> None:
    inboxes = []
    for _ in range(3):
        bus = await buses()
        got = Received()
        inbox = await bus.open_inbox(spec(bus), got)
        await inbox.bind("user.shared")
        inboxes.append(got)
    await (await buses()).publish("user.shared", emit("shared", 7))
    for got in inboxes:
        assert await got.next() == ("user.shared", emit("shared", 7))


async def test_one_publishers_messages_arrive_in_order(bus: Bus) -> None:
    got = Received()
    inbox = await bus.open_inbox(spec(bus), got)
    await inbox.bind("user.order")
    for n in range(50):
        await bus.publish("user.order", emit("order", n))
    assert [(await got.next())[1] for _ in range(50)] == [emit("order", n) for n in range(50)]


async def test_mandatory_publish_to_an_unbound_key_is_unroutable(bus: Bus) -> None:
    with pytest.raises(Unroutable):
        await bus.publish("session.nobody", emit("x"), mandatory=True)
    await bus.publish("session.nobody", emit("x"))  # not mandatory: dropped, no error


async def test_unbind_stops_delivery(bus: Bus) -> None:
    got = Received()
    inbox = await bus.open_inbox(spec(bus), got)
    await inbox.bind("user.gone")
    await bus.publish("user.gone", emit("gone", 1), mandatory=True)
    assert (await got.next())[1] == emit("gone", 1)
    await inbox.unbind("user.gone")
    with pytest.raises(Unroutable):
        await bus.publish("user.gone", emit("gone", 2), mandatory=True)


async def test_send_reaches_a_named_queue_and_a_missing_one_drops(buses: OpenBus) -> None:
    bus, other = await buses(), await buses()
    got = Received()
    inbox = await other.open_inbox(spec(other), got)
    await bus.send("no-such-queue-" + uuid.uuid4().hex, CallCancel(id="lost", session_id="s"))
    await bus.send(inbox.name, CallCancel(id="kept", session_id="s"))
    key, message = await got.next()
    assert message == CallCancel(id="kept", session_id="s")
    assert key == inbox.name


async def test_a_failing_handler_loses_that_message_only(bus: Bus) -> None:
    got = Received()

    async def flaky(key: str, message: Message) -> None:
        if isinstance(message, Emit) and message.payload["n"] == 0:
            raise RuntimeError("plugin bug")
        await got(key, message)

    inbox = await bus.open_inbox(spec(bus), flaky)
    await inbox.bind("user.flaky")
    await bus.publish("user.flaky", emit("flaky", 0))
    await bus.publish("user.flaky", emit("flaky", 1))
    assert (await got.next())[1] == emit("flaky", 1)


async def test_a_started_bus_is_connected_with_an_empty_outbox(bus: Bus) -> None:
    assert bus.connected
    assert bus.outbox_depth == 0
