"""What eventwire puts on the wire, read back with a plain aio-pika consumer (RabbitMQ only)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import aiormq
import pytest
from pamqp import commands as amqp

from eventwire import CallTimeout, codec
from eventwire.amqp import fastpath
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


async def test_fastchannel_ask_answers_in_order_and_raises_what_closed_the_channel(
    amqp_url: str,
) -> None:
    """``FastChannel.ask`` / ``probe`` (the resume probes' passive declares, without aiormq's
    RPC): the answer of its own method, aiormq's RPCs on the same channel still paired with
    theirs, and a missing queue raised as aiormq raises it, the channel then closed."""
    assert fastpath.install()
    connection = await aiormq.connect(amqp_url)
    name = f"ask-test.{uuid.uuid4().hex[:8]}"
    try:
        channel = await connection.channel()
        assert isinstance(channel, fastpath.FastChannel)
        await channel.queue_declare(name, auto_delete=False, arguments={"x-expires": 60_000})
        await channel.basic_publish(b"one", routing_key=name)
        probes = await asyncio.gather(
            *(channel.ask(amqp.Queue.Declare(queue=name, passive=True)) for _ in range(10)),
            channel.queue_declare(name, passive=True),  # aiormq's RPC, between the asks
            *(channel.probe(name) for _ in range(10)),  # its frame marshalled by eventwire
        )
        assert len(probes) == 21
        assert all(p.queue == name and p.message_count == 1 for p in probes)
        assert all(p.consumer_count == 0 for p in probes)
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await channel.probe(f"{name}.missing")
        assert channel.is_closed
        with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
            await channel.ask(amqp.Queue.Declare(queue=name, passive=True))
    finally:
        cleanup = await connection.channel()
        await cleanup.queue_delete(name)
        await connection.close()
