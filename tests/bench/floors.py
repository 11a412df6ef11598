"""The brokers' own floors under two of issue 13's targets, measured with bare clients.

- ``mailbox_floor``: what the broker alone allows a connecting tab with recovery on: its
  mailbox (eventwire's own ``Topology.mailbox`` spec) declared, bound to a session and a user
  key and consumed, all ``nowait`` and pipelined over ``CHANNELS`` channels with one
  ``basic.qos`` barrier per batch, as the edge sends them, without an edge. Connects to an
  eventwire edge cannot be faster than this; plain python-socketio touches no broker.
- ``hop_floor``: one publish reaching a subscriber at a fixed rate, RabbitMQ (aiormq, publisher
  confirms, a direct exchange, as eventwire publishes) against Redis pub/sub (redis-py, as Open
  WebUI's room channels publish): the share of an event's latency that is the broker's alone.

Both run in the bench's own process (nothing else runs meanwhile), on the bench's namespace,
and leave nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import uuid
from typing import Any

import aiormq
from pamqp import commands as amqp

from eventwire.settings import Settings
from eventwire.topology import Topology, session_key, user_key
from tests.bench.lab import percentiles

CHANNELS = 4  # as eventwire.amqp.mailbox
BATCH = 64  # mailboxes per barrier on a channel (a storm's batches are about this size)
_STAMP = struct.Struct(">q")


async def mailbox_floor(
    amqp_url: str, namespace: str, n: int, sids: list[str] | None = None
) -> dict[str, Any]:
    """``n`` tabs' mailboxes (of ``sids``, else made up) attached at once, then deleted."""
    settings = Settings()
    topology = Topology(namespace)
    exchange = topology.events.name
    connection = await aiormq.connect(amqp_url)
    names: list[str] = []
    try:
        admin = await connection.channel()
        await admin.exchange_declare(exchange, exchange_type="direct", durable=True)
        channels = [await connection.channel() for _ in range(CHANNELS)]
        sids = sids or [f"floor-{uuid.uuid4().hex}" for _ in range(n)]
        specs = [
            topology.mailbox(
                sid,
                expires_s=settings.recovery_window,
                max_events=settings.recovery_max_events,
                max_bytes=settings.recovery_max_bytes,
            )
            for sid in sids
        ]
        names = [spec.name for spec in specs]

        async def ignore(_: Any) -> None:
            return None

        async def attach(channel: aiormq.abc.AbstractChannel, mine: list[int]) -> None:
            for start in range(0, len(mine), BATCH):
                frames: list[Any] = []
                for i in mine[start : start + BATCH]:
                    spec, sid = specs[i], sids[i]
                    frames.append(
                        amqp.Queue.Declare(
                            queue=spec.name,
                            durable=spec.durable,
                            arguments=spec.arguments,
                            nowait=True,
                        )
                    )
                    for key in (session_key(sid), user_key(sid)):
                        frames.append(
                            amqp.Queue.Bind(
                                queue=spec.name, exchange=exchange, routing_key=key, nowait=True
                            )
                        )
                    tag = f"floor.{i}"
                    channel.consumers[tag] = ignore
                    frames.append(
                        amqp.Basic.Consume(queue=spec.name, consumer_tag=tag, nowait=True)
                    )
                await channel.write_queue.put(
                    aiormq.abc.ChannelFrame.marshall(channel_number=channel.number, frames=frames)
                )
                await channel.basic_qos(prefetch_count=settings.recovery_max_events)

        started = time.perf_counter()
        await asyncio.gather(
            *(attach(c, list(range(j, n, CHANNELS))) for j, c in enumerate(channels))
        )
        seconds = time.perf_counter() - started
        for channel in channels:
            await channel.close()
        return {"mailboxes": n, "seconds": seconds, "per_s": n / seconds}
    finally:
        if not connection.is_closed:
            cleanup = await connection.channel()
            for name in names:
                await cleanup.queue_delete(name, nowait=True)
            await cleanup.exchange_delete(exchange)
            await connection.close()


async def _paced(rate: float, seconds: float, publish: Any) -> int:
    """``publish(body)`` a stamped body every 1/rate s for ``seconds``, not waiting for the
    earlier ones (open loop, as the bench's emitters); then for all of them. How many."""
    n = max(1, int(rate * seconds))
    pending: set[asyncio.Future[Any]] = set()
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(publish(_STAMP.pack(time.monotonic_ns()) + b"x" * 200))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return n


class _Arrivals:
    """Latencies (µs) of the stamped messages that arrived; ``wait`` for all of them."""

    def __init__(self) -> None:
        self.us: list[float] = []
        self._expected: int | None = None
        self._all_in = asyncio.Event()

    def add(self, body: bytes) -> None:
        (sent,) = _STAMP.unpack_from(body)
        self.us.append((time.monotonic_ns() - sent) / 1e3)
        if self._expected is not None and len(self.us) >= self._expected:
            self._all_in.set()

    async def wait(self, n: int) -> list[float]:
        self._expected = n
        if len(self.us) < n:
            async with asyncio.timeout(10):
                await self._all_in.wait()
        return self.us


async def rabbitmq_hop(amqp_url: str, namespace: str, rate: float, seconds: float) -> list[float]:
    exchange, key = f"{namespace}.hop", f"hop.{uuid.uuid4().hex[:8]}"
    got = _Arrivals()
    publisher, consumer = await aiormq.connect(amqp_url), await aiormq.connect(amqp_url)
    try:
        out = await publisher.channel(publisher_confirms=True)
        await out.exchange_declare(exchange, exchange_type="direct", auto_delete=True)
        inbox = await consumer.channel()
        declared = await inbox.queue_declare("", exclusive=True, auto_delete=True)
        await inbox.queue_bind(declared.queue, exchange, routing_key=key)

        async def on_message(message: Any) -> None:
            got.add(message.body)

        await inbox.basic_consume(declared.queue, on_message, no_ack=True)
        n = await _paced(
            rate, seconds, lambda body: out.basic_publish(body, exchange=exchange, routing_key=key)
        )
        return await got.wait(n)
    finally:
        await consumer.close()
        await publisher.close()


async def redis_hop(redis_url: str, namespace: str, rate: float, seconds: float) -> list[float]:
    import redis.asyncio as redis

    channel = f"{namespace}.hop.{uuid.uuid4().hex[:8]}"
    got = _Arrivals()
    publisher, subscriber = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    pubsub = subscriber.pubsub()
    reader: asyncio.Task[None] | None = None
    try:
        await pubsub.subscribe(channel)
        async with asyncio.timeout(10):  # subscribed before the first publish
            while (await pubsub.get_message(timeout=1.0) or {}).get("type") != "subscribe":
                pass

        async def read() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    got.add(message["data"])

        reader = asyncio.create_task(read())
        n = await _paced(rate, seconds, lambda body: publisher.publish(channel, body))
        return await got.wait(n)
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await pubsub.aclose()
        await subscriber.aclose()
        await publisher.aclose()


async def hop_floor(
    amqp_url: str, redis_url: str, namespace: str, rate: float, seconds: float
) -> dict[str, Any]:
    results = {}
    for name, measure, url in (
        ("rabbitmq", rabbitmq_hop, amqp_url),
        ("redis", redis_hop, redis_url),
    ):
        await measure(url, namespace, rate, 1.0)  # warm-up: connections, first allocations
        got = await measure(url, namespace, rate, seconds)
        results[name] = {"n": len(got), "latency_ms": percentiles(got)}
    return {"rate": rate, "seconds": seconds, **results}
