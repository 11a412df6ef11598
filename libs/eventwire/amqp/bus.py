"""The RabbitMQ bus (aio-pika): routing, mandatory publishes, replies, and riding out outages.

When the connection drops, a supervisor reconnects with exponential backoff (to the next broker
``AMQP_URL`` lists, so a cluster that loses a node is failed over), re-declares the topology,
re-binds every key each inbox still wants (and unbinds what was released meanwhile), then
flushes the outbox of emits made during the outage before new publishes go straight out.

A broker that stops answering without closing the socket (a frozen VM, a stalled network) is
noticed too: every publish must be confirmed within ``broker_timeout``, and a liveness check
(a publish to nowhere, confirmed) runs every ``heartbeat`` seconds; a miss counts as a lost
connection. AMQP heartbeats of the same period let the broker drop us in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractQueue,
)
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from yarl import URL

from .. import codec
from ..bus import Handler
from ..dispatch import deliver
from ..errors import BrokerUnavailable, InvalidArgument, Unroutable
from ..protocol import Message
from ..settings import Settings
from ..topology import MAX_EXPIRATION_MS, QueueSpec, Topology
from . import fastpath
from .deadlines import ConfirmDeadlines
from .outbox import Outbox, Pending

if TYPE_CHECKING:
    from .jobs import AmqpJobQueue
    from .mailbox import AmqpMailboxes

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/msgpack"
# An acked inbox acknowledges (``multiple``) once its backlog is handled, or every this many.
ACK_BATCH = 64
BROKER_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,  # a RuntimeError, not an AMQPError
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


def redact(url: str) -> str:
    """One URL or a comma-separated list, passwords masked."""
    return ",".join(
        str(URL(u).with_password("***")) if URL(u).password else u for u in url.split(",")
    )


class Attachment(Protocol):
    """Something else that lives on the bus's connection (e.g. the job queue's channel)."""

    async def attach(self, connection: AbstractConnection) -> None: ...

    def detach(self) -> None: ...


class AmqpInbox:
    """A queue this process consumes; remembers its keys so a reconnect can restore them."""

    def __init__(self, spec: QueueSpec, handler: Handler) -> None:
        self._spec = spec
        self._handler = handler
        self._keys: set[str] = set()  # what we want bound
        self._on_broker: set[str] = set()  # what we believe is bound on the broker
        self._queue: AbstractQueue | None = None
        self._exchange: AbstractExchange | None = None
        self._pending: asyncio.Queue[DeliveredMessage] = asyncio.Queue()
        self._consumer_tag: str | None = None
        self._task = asyncio.create_task(self._dispatch(), name=f"inbox:{spec.name}")
        self._consumer: Any = self._receive if fastpath.install() else self._receive_async

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def durable(self) -> bool:
        return self._spec.durable

    async def attach(self, channel: AbstractChannel, exchange: AbstractExchange) -> None:
        """(Re)declare the queue, reconcile its bindings, start consuming."""
        spec = self._spec
        queue = await channel.declare_queue(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=spec.arguments or None,
        )
        for key in self._on_broker - self._keys:
            await queue.unbind(exchange, key)
        for key in set(self._keys):
            await queue.bind(exchange, key)
        self._on_broker = set(self._keys)
        # Consume on the underlying aiormq channel: aio-pika would wrap every delivery in an
        # IncomingMessage and spawn one more task for it, a third of the edge's AMQP cost.
        underlay = await channel.get_underlay_channel()
        # An acked inbox acknowledges with `multiple`, which covers every delivery on the
        # channel: a process has at most one (an edge's node queue).
        consume = await underlay.basic_consume(queue.name, self._consumer, no_ack=not spec.acked)
        self._consumer_tag = consume.consumer_tag
        self._queue, self._exchange = queue, exchange

    def detach(self) -> None:
        self._queue = self._exchange = None

    # aiormq closes a channel whose RPC is cancelled mid-flight, so binds and unbinds are
    # shielded: a cancelled caller (a stopped run, a closing socket) must not break the inbox.

    async def bind(self, key: str) -> None:
        self._keys.add(key)
        if self._queue is not None and self._exchange is not None:
            with contextlib.suppress(*BROKER_ERRORS):  # restored on reconnect
                await asyncio.shield(self._queue.bind(self._exchange, key))
                self._on_broker.add(key)

    async def unbind(self, key: str) -> None:
        self._keys.discard(key)
        if self._queue is not None and self._exchange is not None:
            with contextlib.suppress(*BROKER_ERRORS):  # reconciled on reconnect
                await asyncio.shield(self._queue.unbind(self._exchange, key))
                self._on_broker.discard(key)

    async def close(self, delete: bool) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._queue is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                if self._consumer_tag is not None:
                    await self._queue.cancel(self._consumer_tag)
                if delete:
                    await self._queue.delete(if_unused=False, if_empty=False)
        self.detach()

    def _receive(self, message: DeliveredMessage) -> None:
        # With fastpath installed aiormq calls this directly (no task per delivery).
        self._pending.put_nowait(message)

    async def _receive_async(self, message: DeliveredMessage) -> None:
        # aiormq runs each callback as its own task; a FIFO keeps arrival order.
        self._pending.put_nowait(message)

    async def _dispatch(self) -> None:
        unacked = 0
        while True:
            incoming = await self._pending.get()
            await deliver(
                incoming.body, incoming.routing_key or self.name, self._handler, self.name
            )
            if self._spec.acked:
                unacked += 1
                if self._pending.empty() or unacked >= ACK_BATCH:
                    unacked = 0
                    await _ack_through(incoming)


async def _ack_through(incoming: DeliveredMessage) -> None:
    """Acknowledge this delivery and every earlier one on its channel."""
    tag = incoming.delivery_tag
    if tag is None or incoming.channel.is_closed:
        return  # its channel died: the broker gives those back to the queue
    with contextlib.suppress(*BROKER_ERRORS):
        await incoming.channel.basic_ack(tag, multiple=True, wait=False)


class AmqpBus:
    def __init__(self, settings: Settings, topology: Topology) -> None:
        fastpath.install()  # before the first connection: it changes how aiormq moves frames
        self.topology = topology
        self._events = topology.events.name  # the exchange every emit goes to (asked per publish)
        self._settings = settings
        self._max_payload = settings.max_payload_bytes
        self._deadline = settings.broker_timeout
        self._confirm_deadlines = ConfirmDeadlines(self._deadline)
        self._outbox = Outbox(settings.outbox_limit, settings.outbox_max_bytes)
        self._urls = settings.amqp_urls
        self._url_index = 0  # the broker tried first on the next connect
        self._inboxes: list[AmqpInbox] = []
        self._attachments: list[Attachment] = []
        self._lost_callbacks: list[Callable[[], None]] = []
        self._mailboxes: AmqpMailboxes | None = None
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None  # declaring channel
        # The confirming channel, used through aiormq: aio-pika's Message and Exchange.publish
        # add a tenth of the SDK's per-emit cost and nothing we use.
        self._publisher: aiormq.abc.AbstractChannel | None = None
        self._ready = False
        self._closing = False
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.broker_url = ""  # the one connected to (password masked), "" while down

    # -- state -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ready

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    @property
    def outbox_depth(self) -> int:
        return len(self._outbox)

    @property
    def max_payload(self) -> int:
        return self._max_payload

    def job_queue(self) -> AmqpJobQueue:
        from .jobs import AmqpJobQueue  # it builds on this module

        return AmqpJobQueue(self)

    async def mailboxes(self) -> AmqpMailboxes:
        if self._mailboxes is None:
            from .mailbox import AmqpMailboxes  # it builds on this module

            self._mailboxes = AmqpMailboxes(self, self._settings)
            await self.add_attachment(self._mailboxes)
        return self._mailboxes

    def on_connection_lost(self, callback: Callable[[], None]) -> None:
        self._lost_callbacks.append(callback)

    @property
    def broker_timeout(self) -> float:
        """Seconds the broker has to confirm or answer before it counts as unreachable."""
        return self._deadline

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self._settings.connect_timeout):
                await self._connect_with_backoff()
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"cannot reach RabbitMQ at {redact(self._settings.amqp_url)} within "
                f"{self._settings.connect_timeout:g}s (set AMQP_URL, or memory:// for one process)"
            ) from exc
        self._supervisor = asyncio.create_task(self._supervise(), name="amqp-supervisor")
        self._watchdog = asyncio.create_task(self._watch(), name="amqp-liveness")

    async def close(self) -> None:
        self._closing = True
        self._ready = False
        for task in (self._watchdog, self._supervisor):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for inbox in self._inboxes:
            await inbox.close(delete=inbox.durable)
        self._inboxes.clear()
        if len(self._outbox):
            log.warning("closing with %d emits still in the outbox", len(self._outbox))
        if self._connection is not None:
            with contextlib.suppress(*BROKER_ERRORS):
                await self._connection.close()
        self._connection = None
        self._confirm_deadlines.close()

    # -- connection lifecycle ----------------------------------------------------------

    async def _connect_with_backoff(self) -> None:
        delay = self._settings.reconnect_initial_delay
        while True:
            # One round over every listed broker, starting where the last connection was not.
            for _ in self._urls:
                url = self._urls[self._url_index]
                try:
                    await self._connect(url)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("broker %s: connect failed (%s)", redact(url), exc or repr(exc))
                    self._url_index = (self._url_index + 1) % len(self._urls)
            log.warning("no broker answered; retrying in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max_delay)

    async def _open(self, url: str) -> AbstractConnection:
        # Bounded: a frozen broker accepts TCP (the kernel does) and then never answers.
        extra: dict[str, Any] = {}
        if "heartbeat" not in URL(url).query:  # the URL's own choice wins
            extra["heartbeat"] = self._settings.heartbeat
        async with asyncio.timeout(self._deadline):
            connection: AbstractConnection = await aio_pika.connect(
                url,
                timeout=self._deadline,
                client_properties={
                    "connection_name": f"eventwire {socket.gethostname()}:{os.getpid()}"
                },
                **extra,
            )
        return connection

    async def _connect(self, url: str) -> None:
        connection = await self._open(url)
        try:
            channel = await connection.channel(publisher_confirms=False)
            publishing = await connection.channel(publisher_confirms=True)
            spec = self.topology.events
            exchange = await channel.declare_exchange(
                spec.name, aio_pika.ExchangeType(spec.type.value), durable=spec.durable
            )
            publisher = await publishing.get_underlay_channel()
            for inbox in self._inboxes:
                await inbox.attach(channel, exchange)
            for attachment in self._attachments:
                await attachment.attach(connection)
            await self._flush_outbox(publisher)
        except BaseException:
            with contextlib.suppress(*BROKER_ERRORS):
                async with asyncio.timeout(self._deadline):
                    await connection.close()
            raise
        self._connection, self._channel = connection, channel
        self._exchange, self._publisher = exchange, publisher
        self._lost.clear()
        connection.close_callbacks.add(self._on_close)
        for ch in (channel, publishing):
            ch.close_callbacks.add(self._on_channel_close)
        self.broker_url = redact(url)
        self._ready = True

    def _on_close(self, _sender: Any, exc: BaseException | None = None) -> None:
        self.unreachable(f"connection lost: {exc}")

    def unreachable(self, why: str) -> None:
        """Treat the connection as lost (it closed, or the broker stopped answering)."""
        if self._closing or not self._ready:  # not up (yet): nothing to lose
            return
        log.warning("broker %s unreachable: %s", self.broker_url, why)
        self._ready = False
        self.broker_url = ""
        # Fail over: the next connect tries the next broker first (the same one if only one).
        self._url_index = (self._url_index + 1) % len(self._urls)
        for inbox in self._inboxes:
            inbox.detach()
        for attachment in self._attachments:
            attachment.detach()
        self._lost.set()
        for callback in self._lost_callbacks:
            callback()

    def _on_channel_close(self, _sender: Any, exc: BaseException | None = None) -> None:
        # A channel error leaves the connection up but our state unknown: start over (the
        # supervisor closes the connection and reconnects).
        self.unreachable(f"channel closed: {exc}")

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            # A channel error leaves the old connection open, and with it our exclusive
            # queues: close it first, or re-declaring them fails with RESOURCE_LOCKED.
            old, self._connection = self._connection, None
            if old is not None and not old.is_closed:
                with contextlib.suppress(*BROKER_ERRORS):
                    async with asyncio.timeout(self._deadline):
                        await old.close()
            await self._connect_with_backoff()
            self.reconnects += 1
            log.info("broker connection restored (reconnect #%d)", self.reconnects)

    async def _flush_outbox(self, publisher: aiormq.abc.AbstractChannel) -> None:
        if not len(self._outbox):
            return
        log.info("flushing %d emits held during the outage", len(self._outbox))
        while len(self._outbox):
            item = self._outbox.peek()
            await self._publish(publisher, self._events, item.key, item.body)
            self._outbox.pop()

    async def _watch(self) -> None:
        """Every ``heartbeat`` seconds, check that the broker still confirms within the deadline."""
        while True:
            await asyncio.sleep(self._settings.heartbeat)
            if self._ready:
                await self.probe()

    async def probe(self) -> bool:
        """Whether the broker confirms a publish (to no queue) within the deadline, now.

        A miss marks the connection lost (the supervisor reconnects)."""
        publisher = self._publisher
        if not self._ready or publisher is None:
            return False
        try:
            await self._publish(publisher, "", "", b"")  # the default exchange, no such queue
        except BrokerUnavailable:
            return False
        return True

    # -- publishing --------------------------------------------------------------------

    async def _publish(
        self,
        publisher: aiormq.abc.AbstractChannel,
        exchange: str,
        key: str,
        body: bytes,
        *,
        mandatory: bool = False,
        ttl: float | None = None,
    ) -> object:
        """Publish and await the broker's confirm; ``BrokerUnavailable`` when it fails or is
        not there within the deadline (then the connection counts as lost)."""
        expiration = None
        if ttl is not None:
            ms = int(ttl * 1000)
            if not 0 <= ms <= MAX_EXPIRATION_MS:  # refused by RabbitMQ: costs the connection
                raise InvalidArgument(f"message ttl {ttl!r}s is out of AMQP's range")
            expiration = str(ms)
        try:
            if isinstance(publisher, fastpath.FastChannel):
                # Queued now, nothing awaited but the confirm, whose deadline one shared
                # timer keeps (deadlines.py); else (channel busy) the general path below.
                written, confirmation = publisher.publish_nowait(
                    body,
                    exchange=exchange,
                    routing_key=key,
                    properties=fastpath.OwnProperties(CONTENT_TYPE, 1, expiration),
                    mandatory=mandatory,
                )
                if written:
                    if confirmation is None:
                        return None
                    self._confirm_deadlines.watch(confirmation)
                    return await confirmation
            # New properties each time: aiormq stamps a message_id on them (to match returns).
            properties = Basic.Properties(
                content_type=CONTENT_TYPE, delivery_mode=1, expiration=expiration
            )
            async with asyncio.timeout(self._deadline):
                # wait=False: aiormq would otherwise hold the channel lock until the frame is
                # written *and drained*, one publish per loop turn; the confirm we await is
                # what tells us the broker has it (and bounds what is in flight).
                return await publisher.basic_publish(
                    body,
                    exchange=exchange,
                    routing_key=key,
                    properties=properties,
                    mandatory=mandatory,
                    wait=False,  # type: ignore[call-arg]  # aiormq 7's Channel has it, its ABC not
                )
        except TimeoutError:
            why = f"the broker did not confirm a publish within {self._deadline:g}s"
            self.unreachable(why)
            raise BrokerUnavailable(f"broker unreachable: {why}") from None
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"broker unreachable: {exc or type(exc).__name__}") from exc

    async def publish(
        self,
        key: str,
        message: Message,
        *,
        mandatory: bool = False,
        ttl: float | None = None,
        buffer: bool = False,
    ) -> None:
        body = codec.encode(message, self._max_payload)
        publisher = self._publisher
        if not self._ready or publisher is None:
            if buffer:
                self._outbox.put(Pending(key, body))
                return
            raise BrokerUnavailable("broker unreachable: the connection is down")
        try:
            result = await self._publish(
                publisher, self._events, key, body, mandatory=mandatory, ttl=ttl
            )
        except BrokerUnavailable:
            # At-least-once: a publish the broker took but did not confirm goes out again.
            if buffer:
                self._outbox.put(Pending(key, body))
                return
            raise
        if isinstance(result, aiormq.abc.DeliveredMessage):
            raise Unroutable(f"no queue is bound to {key!r}")

    async def send(self, queue: str, message: Message) -> None:
        body = codec.encode(message, self._max_payload)
        publisher = self._publisher
        if not self._ready or publisher is None:
            raise BrokerUnavailable("broker unreachable: the connection is down")
        await self._publish(publisher, "", queue, body)

    async def add_attachment(self, attachment: Attachment) -> None:
        """Attach now if connected, and again after every reconnect."""
        self._attachments.append(attachment)
        if self._ready and self._connection is not None:
            await attachment.attach(self._connection)

    async def open_inbox(self, spec: QueueSpec, handler: Handler) -> AmqpInbox:
        inbox = AmqpInbox(spec, handler)
        self._inboxes.append(inbox)
        if self._ready and self._channel is not None and self._exchange is not None:
            await inbox.attach(self._channel, self._exchange)
        return inbox
