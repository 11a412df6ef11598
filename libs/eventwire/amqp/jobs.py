"""The job queue on RabbitMQ: a quorum queue, manual acks, a dead-letter queue with errors.

A job that cannot be decoded, or that breaks the handler before it took the job, is parked in
the dead-letter queue with the reason and acknowledged: its worker slot is free for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from .. import codec
from ..errors import BrokerUnavailable, ProtocolError
from ..jobs import DeadJob, JobHandler
from ..protocol import Job
from .bus import BROKER_ERRORS, CONTENT_TYPE, AmqpBus

log = logging.getLogger(__name__)

ERROR_HEADER = "x-eventwire-error"
ATTEMPTS_HEADER = "x-eventwire-attempts"


class AmqpDelivery:
    def __init__(self, queue: AmqpJobQueue, incoming: AbstractIncomingMessage, job: Job) -> None:
        self._queue = queue
        self._incoming = incoming
        self.job = job
        count = (incoming.headers or {}).get("x-delivery-count", 0)
        self.attempt = int(count if isinstance(count, int) else 0) + 1
        self.settled = False  # acked, requeued or dead-lettered: settling twice is a channel error

    @property
    def redelivered(self) -> bool:
        return self.attempt > 1 or bool(self._incoming.redelivered)

    async def ack(self) -> None:
        self.settled = True
        # A lost channel means the broker already took the job back: at-least-once.
        with contextlib.suppress(*BROKER_ERRORS):
            await self._incoming.ack()

    async def requeue(self) -> None:
        self.settled = True
        with contextlib.suppress(*BROKER_ERRORS):
            await self._incoming.nack(requeue=True)

    async def dead_letter(self, error: str) -> None:
        self.settled = True
        await self._queue.settle_dead(self._incoming, error, self.attempt)


class AmqpJobQueue:
    def __init__(self, bus: AmqpBus) -> None:
        self._bus = bus
        self._max_payload = bus.max_payload
        self._spec = bus.topology.jobs
        self._dead = bus.topology.dead_jobs
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._handler: JobHandler | None = None
        self._prefetch = 1
        self._consumer_tag: str | None = None

    async def start(self) -> None:
        await self._bus.add_attachment(self)

    async def attach(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        self._channel = channel
        if self._handler is not None or self._queue is not None:
            await self._declare(channel)
        if self._handler is not None and self._queue is not None:
            self._consumer_tag = await self._queue.consume(self._on_message, no_ack=False)

    async def _declare(self, channel: AbstractChannel) -> AbstractQueue:
        # Declared on first use, not at start: an edge that never submits creates no queue.
        await channel.declare_queue(self._dead.name, durable=True, arguments=self._dead.arguments)
        self._queue = await channel.declare_queue(
            self._spec.name, durable=True, arguments=self._spec.arguments
        )
        return self._queue

    @contextlib.asynccontextmanager
    async def _answered(self, what: str) -> AsyncIterator[None]:
        """The broker answers within its deadline, else ``BrokerUnavailable`` (and the
        connection counts as lost): a frozen broker never hangs a submit."""
        deadline = self._bus.broker_timeout
        try:
            async with asyncio.timeout(deadline):
                yield
        except TimeoutError:
            why = f"the broker did not answer within {deadline:g}s"
            self._bus.unreachable(why)
            raise BrokerUnavailable(f"broker unreachable: {what}: {why}") from None
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"broker unreachable: {what}: {exc}") from exc

    def detach(self) -> None:
        self._channel = None
        self._consumer_tag = None

    def _live(self) -> AbstractChannel:
        if self._channel is None:
            raise BrokerUnavailable("broker connection is down: job not accepted")
        return self._channel

    async def submit(self, job: Job) -> None:
        body = codec.encode(job, self._max_payload)
        message = aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=job.id,
        )
        channel = self._live()
        async with self._answered(f"job {job.id} not accepted"):
            if self._queue is None:
                await self._declare(channel)
            await channel.default_exchange.publish(message, self._spec.name, mandatory=True)

    async def consume(self, handler: JobHandler, prefetch: int) -> None:
        self._handler, self._prefetch = handler, prefetch
        if self._channel is not None:
            await self._channel.set_qos(prefetch_count=prefetch)
            queue = self._queue or await self._declare(self._channel)
            self._consumer_tag = await queue.consume(self._on_message, no_ack=False)

    async def stop_consuming(self) -> None:
        self._handler = None
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await self._queue.cancel(self._consumer_tag)
        self._consumer_tag = None

    async def _on_message(self, incoming: AbstractIncomingMessage) -> None:
        handler = self._handler
        if handler is None:  # stopped meanwhile: give it back
            with contextlib.suppress(*BROKER_ERRORS):
                await incoming.nack(requeue=True)
            return
        try:
            message = codec.decode(incoming.body)
            if not isinstance(message, Job):
                raise ProtocolError(f"a {message.kind} message is not a job")
        except ProtocolError as exc:
            log.warning("undecodable job dead-lettered: %s", exc)
            await self.settle_dead(incoming, str(exc), 1)
            return
        delivery = AmqpDelivery(self, incoming, message)
        try:
            await handler(delivery)
        except Exception as exc:  # the handler broke before settling it: park it, free the slot
            log.exception("job %s broke its handler", message.id)
            if not delivery.settled:
                await delivery.dead_letter(f"handler failed: {type(exc).__name__}: {exc}")

    async def settle_dead(
        self, incoming: AbstractIncomingMessage, error: str, attempts: int
    ) -> None:
        """Park the job with its error and ack it; if parking fails, reject it so the
        broker dead-letters it (without the error) rather than hold the slot forever."""
        try:
            await self.park(incoming.body, error, attempts)
        except BrokerUnavailable as exc:
            log.warning("could not park a job (%s); rejected to the dead-letter queue", exc)
            with contextlib.suppress(*BROKER_ERRORS):
                await incoming.reject(requeue=False)
            return
        with contextlib.suppress(*BROKER_ERRORS):
            await incoming.ack()

    async def park(self, body: bytes, error: str, attempts: int) -> None:
        headers: dict[str, Any] = {
            ERROR_HEADER: error[:2000],
            ATTEMPTS_HEADER: attempts,
            "x-eventwire-failed-at": int(time.time()),
        }
        message = aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers,
        )
        async with self._answered("could not dead-letter a job"):
            await self._live().default_exchange.publish(message, self._dead.name, mandatory=True)

    async def take_dead(self, limit: int = 100) -> list[DeadJob]:
        channel = self._live()
        queue = await channel.declare_queue(
            self._dead.name, durable=True, arguments=self._dead.arguments
        )
        dead: list[DeadJob] = []
        while len(dead) < limit:
            incoming = await queue.get(no_ack=True, fail=False)
            if incoming is None:
                break
            headers = incoming.headers or {}
            try:
                decoded = codec.decode(incoming.body)
                job = decoded if isinstance(decoded, Job) else None
            except ProtocolError:
                job = None
            error = headers.get(ERROR_HEADER)
            if error is None:  # dead-lettered by the broker: its delivery limit, or a reject
                error = (
                    "rejected"
                    if _death_reason(headers) == "rejected"
                    else ("delivery limit reached")
                )
            attempts = headers.get(ATTEMPTS_HEADER, 0)
            dead.append(DeadJob(job, str(error), int(attempts) if isinstance(attempts, int) else 0))
        return dead


def _death_reason(headers: dict[str, Any]) -> str:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return str(deaths[0].get("reason", ""))
    return ""
