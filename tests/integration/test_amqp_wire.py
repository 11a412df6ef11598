"""What eventwire puts on the wire, read back with a plain aio-pika consumer (RabbitMQ only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from eventwire import CallTimeout, codec
from eventwire.protocol import CallRequest
from eventwire.topology import Topology, session_key
from tests.support.cluster import Cluster

CONFIRM = {"type": "confirmation", "data": {"title": "ok?"}}


async def first(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    async with queue.iterator() as messages:
        return await anext(messages)


@pytest.fixture
async def spy(amqp_cluster: Cluster) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A bare queue bound to ``session.spy`` on the namespace's events exchange."""
    await amqp_cluster.edge()  # declares the exchange
    connection = await aio_pika.connect(amqp_cluster.settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(Topology(amqp_cluster.settings.namespace).events.name)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, session_key("spy"))
        yield queue


async def test_a_call_request_carries_its_timeout_as_amqp_expiration(
    amqp_cluster: Cluster, spy: aio_pika.abc.AbstractQueue
) -> None:
    ew = await amqp_cluster.client()
    call = asyncio.create_task(
        ew.call(CONFIRM, user_id="u", session_id="spy", timeout=30, chat_id="c")
    )
    message = await first(spy)
    request = codec.decode(message.body)
    assert isinstance(request, CallRequest)
    assert request.timeout == 30
    assert message.content_type == "application/msgpack"
    assert message.expiration is not None
    # aio-pika reads the AMQP expiration (ms) back as seconds
    assert 0 < float(message.expiration) <= 30
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_an_expired_call_request_is_never_delivered(
    amqp_cluster: Cluster, spy: aio_pika.abc.AbstractQueue
) -> None:
    ew = await amqp_cluster.client()
    with pytest.raises(CallTimeout):  # nobody consumes the spy queue while the call waits
        await ew.call(CONFIRM, user_id="u", session_id="spy", timeout=0.2)
    # The caller's clock started before its publish reached the broker, whose TTL clock starts
    # at arrival: past that too (an expiry is no event anyone can await).
    await asyncio.sleep(0.3)
    # The request sat in the queue past its expiration and the broker dropped it, so the first
    # message a consumer ever sees is the caller's cancel (it was published after the request).
    assert codec.decode((await first(spy)).body).kind == "cancel"
