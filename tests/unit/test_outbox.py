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


def test_outbox_is_bounded_in_bytes_and_counts_them() -> None:
    box = Outbox(limit=100, max_bytes=25)
    box.put(Pending("k", b"x" * 9))  # 1 + 9 bytes
    box.put(Pending("kk", b"y" * 8))  # 2 + 8 bytes
    assert box.bytes == 20
    with pytest.raises(OutboxFull, match="EVENTWIRE_OUTBOX_MAX_BYTES"):
        box.put(Pending("k", b"z" * 9))  # 30 > 25
    assert box.bytes == 20 and len(box) == 2 and box.dropped == 1
    box.pop()
    assert box.bytes == 10
    box.put(Pending("k", b"z" * 9))  # fits again once the first is gone
    assert box.bytes == 20


def test_the_count_bound_names_its_setting() -> None:
    box = Outbox(limit=1, max_bytes=1000)
    box.put(Pending("k", b"1"))
    with pytest.raises(OutboxFull, match="EVENTWIRE_OUTBOX_LIMIT"):
        box.put(Pending("k", b"2"))


async def test_unconnected_bus_holds_emits_up_to_the_byte_bound() -> None:
    bus = AmqpBus(Settings(outbox_limit=10_000, outbox_max_bytes=64 * 1024), Topology("unit"))
    emit = Emit(user_id="u", payload={"data": {"type": "x", "data": "p" * 1000}})
    held = 0
    with pytest.raises(OutboxFull, match="MAX_BYTES=65536 bytes"):
        while True:
            await bus.publish("user.u", emit, buffer=True)
            held += 1
    assert bus.outbox.bytes <= 64 * 1024
    assert bus.outbox_depth == held
    assert 60 <= held < 66  # ~1 KB each: the bytes bound, not the count, stopped it
