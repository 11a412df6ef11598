"""The bounded outbox, and the AMQP bus holding emits while it has no broker."""

from __future__ import annotations

import pytest

from eventwire.amqp.bus import AmqpBus
from eventwire.amqp.outbox import Outbox, Pending
from eventwire.errors import BrokerUnavailable, OutboxFull
from eventwire.protocol import CallCancel, Emit
from eventwire.settings import Settings
from eventwire.topology import Topology


def test_outbox_is_fifo_and_bounded() -> None:
    box = Outbox(limit=2)
    box.put(Pending("k", b"1"))
    box.put(Pending("k", b"2"))
    with pytest.raises(OutboxFull, match="2 emits"):
        box.put(Pending("k", b"3"))
    assert box.dropped == 1
    assert box.peek().body == b"1"
    box.pop()
    assert box.peek().body == b"2"
    assert len(box) == 1


async def test_unconnected_bus_buffers_emits_and_refuses_the_rest() -> None:
    bus = AmqpBus(Settings(outbox_limit=3), Topology("unit"))
    emit = Emit(user_id="u", payload={})
    for _ in range(3):
        await bus.publish("user.u", emit, buffer=True)
    assert bus.outbox_depth == 3
    with pytest.raises(OutboxFull):
        await bus.publish("user.u", emit, buffer=True)
    with pytest.raises(BrokerUnavailable):
        await bus.publish("session.s", CallCancel(id="c", session_id="s"), mandatory=True)
    with pytest.raises(BrokerUnavailable):
        await bus.send("reply.q", CallCancel(id="c", session_id="s"))
