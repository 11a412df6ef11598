"""Faster frame I/O for aiormq: fewer reads per frame, one write per loop turn, no task per
delivery.

The profile of an edge node and of an emitting worker under load (README, Performance) put a
third to a half of their CPU in aiormq's frame handling, not in eventwire: three
``readexactly`` calls, a lock and a ``BytesIO`` per frame read (a message is three frames); one
``write`` syscall per published message; one task created per delivery only to call the
consumer. The wire behaviour is unchanged; only how aiormq moves bytes is:

- ``FastFrameReceiver`` reads a frame's 7-byte header and then its body: two reads, no lock
  (one reader task per connection reads them);
- ``CorkedTransportFactory`` gives the connection a writer that gathers what is written during
  one turn of the event loop and sends it as one write (under load: one syscall for many
  publishes; alone: the same single write, at the end of the turn);
- a writer queue of 64 frames instead of 10, so a busy turn has more to coalesce;
- ``FastChannel`` calls a consumer that is a plain function directly (eventwire's inboxes put
  deliveries on their own ordered queue), and still runs coroutine consumers as tasks.

``install()`` swaps these into aiormq's module for the whole process, once, and only on the
aiormq versions whose internals it was written against; elsewhere (or with
``EVENTWIRE_AMQP_FASTPATH=0``) it changes nothing and eventwire runs on stock aiormq.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import struct
from collections import deque
from collections.abc import Callable
from importlib import metadata
from typing import Any

import aiormq
import aiormq.channel
import aiormq.connection
import pamqp.frame
from aiormq.abc import ChannelFrame, DeliveredMessage
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError, ProtocolSyntaxError
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.exceptions import PAMQPException
from pamqp.header import ContentHeader

from .methods import frame as _frame
from .methods import shortstr as _shortstr

log = logging.getLogger(__name__)

SUPPORTED = ("7.",)  # aiormq versions whose internals these subclasses follow
_HEADER = struct.Struct(">BHI")
FRAME_BUFFER = 64
_installed: bool | None = None
_CONTENT_HEADER = "_Channel__get_content_header"  # aiormq's private reader of a content header
_LOCK = "_Channel__lock"  # the asyncio.Lock behind aiormq's Channel.lock


_DELIVER = struct.Struct(">HH")
_LONGLONG_BIT = struct.Struct(">QB")
_HEADER_PROPS = struct.Struct(">HHQH")
_OURS_MASK = _CONTENT_TYPE_BIT = 1 << 15
_OURS_MASK |= (1 << 12) | (1 << 8) | (1 << 7)


def _read_shortstr(data: bytes, at: int) -> tuple[str, int]:
    end = at + 1 + data[at]
    return data[at + 1 : end].decode(), end


def _fast_deliver(payload: bytes) -> Any:
    """A basic.deliver method frame's arguments, without pamqp's generic field decoding."""
    consumer_tag, at = _read_shortstr(payload, 4)
    delivery_tag, bits = _LONGLONG_BIT.unpack_from(payload, at)
    exchange, at = _read_shortstr(payload, at + 9)
    routing_key, _ = _read_shortstr(payload, at)
    frame = AssembledDeliver.__new__(AssembledDeliver)  # fields are checked by the broker
    frame.consumer_tag, frame.delivery_tag = consumer_tag, delivery_tag
    frame.redelivered, frame.exchange, frame.routing_key = bool(bits & 1), exchange, routing_key
    frame.header = frame.body = None
    return frame


class AssembledDeliver(spec.Basic.Deliver):
    """A basic.deliver that may carry its content header and body, read along with it: one
    item through aiormq's channel queue and reader instead of three (``FastFrameReceiver``).
    Without them (``header`` None) it is a plain deliver, its content frames to follow."""

    header: ContentHeader | None
    body: bytes | None


def _fast_header(payload: bytes) -> Any:
    """A content header carrying only properties eventwire sets; None for anything else."""
    class_id, weight, body_size, flags = _HEADER_PROPS.unpack_from(payload)
    if class_id != 60 or flags & ~_OURS_MASK:
        return None
    at = 14
    content_type = expiration = message_id = None
    delivery_mode = None
    if flags & (1 << 15):
        content_type, at = _read_shortstr(payload, at)
    if flags & (1 << 12):
        delivery_mode, at = payload[at], at + 1
    if flags & (1 << 8):
        expiration, at = _read_shortstr(payload, at)
    if flags & (1 << 7):
        message_id, at = _read_shortstr(payload, at)
    properties = spec.Basic.Properties(
        content_type=content_type,
        delivery_mode=delivery_mode,
        expiration=expiration,
        message_id=message_id,
    )
    return ContentHeader(weight, body_size, properties)


def unmarshal(data: bytes) -> Any:
    """pamqp.frame.unmarshal, with a fast path for the frames of a delivery and for
    publisher confirms (basic.ack)."""
    kind, channel, length = _HEADER.unpack_from(data)
    if len(data) == length + 8 and data[-1] == 0xCE:
        payload = data[7:-1]
        if kind == 3:
            return len(data), channel, ContentBody(payload)
        if kind == 1:
            method = _DELIVER.unpack_from(payload)
            if method == (60, 60):
                return len(data), channel, _fast_deliver(payload)
            if method == (60, 80) and len(payload) == 13:
                ack = spec.Basic.Ack.__new__(spec.Basic.Ack)
                tag, bits = _LONGLONG_BIT.unpack_from(payload, 4)
                ack.delivery_tag, ack.multiple = tag, bool(bits & 1)
                return len(data), channel, ack
        if kind == 2 and (header := _fast_header(payload)) is not None:
            return len(data), channel, header
    return pamqp.frame.unmarshal(data)


class _Assembly:
    """A delivery being read on one channel: its deliver frame, then header, then body."""

    __slots__ = ("body", "deliver", "frames", "header", "size")

    def __init__(self, weight: int, channel: int, deliver: AssembledDeliver) -> None:
        self.frames: list[Any] = [(weight, channel, deliver)]  # as read, to give back
        self.deliver = deliver
        self.header: ContentHeader | None = None
        self.body: list[bytes] = []
        self.size = 0


class FastFrameReceiver(aiormq.connection.FrameReceiver):
    """Reads frames with two reads each, no lock; and a delivery's three frames (deliver,
    content header, body) come out as one ``AssembledDeliver``. Frames of other channels may
    come between them (AMQP allows it; RabbitMQ writes a delivery's frames together): they
    pass through meanwhile. Anything else on the delivery's channel before it is whole, and
    the frames read so far go out one by one, in order, the way aiormq expects them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._assembling: dict[int, _Assembly] = {}
        self._ready: deque[Any] = deque()

    async def get_frame(self) -> Any:
        ready = self._ready
        if ready:
            return ready.popleft()
        assembling = self._assembling
        while True:
            item = await self._read_frame()
            weight, channel, frame = item
            assembly = assembling.get(channel)
            if assembly is None:
                if type(frame) is AssembledDeliver:
                    assembling[channel] = _Assembly(weight, channel, frame)
                    continue
                return item
            assembly.frames.append(item)
            if assembly.header is None and isinstance(frame, ContentHeader):
                assembly.header = frame
                if frame.body_size:
                    continue
            elif assembly.header is not None and isinstance(frame, ContentBody):
                assembly.body.append(frame.value)
                assembly.size += len(frame.value)
                if assembly.size < assembly.header.body_size:
                    continue
            else:  # not the delivery's next frame: let aiormq see them all, as they came
                del assembling[channel]
                ready.extend(assembly.frames)
                return ready.popleft()
            del assembling[channel]
            deliver = assembly.deliver
            deliver.header = assembly.header
            body = assembly.body
            deliver.body = body[0] if len(body) == 1 else b"".join(body)
            return sum(each[0] for each in assembly.frames), channel, deliver

    async def _read_frame(self) -> Any:
        reader = self.reader
        if reader.at_eof():
            del self.reader
            raise StopAsyncIteration
        try:
            head = await reader.readexactly(7)
            if not self.started:
                if head.startswith(b"AMQP"):
                    raise ProtocolSyntaxError("Unexpected AMQP protocol header")
                self.started = True
            _type, _channel, length = _HEADER.unpack(head)
            body = await reader.readexactly(length + 1)
        except asyncio.IncompleteReadError as exc:
            raise AMQPConnectionError(
                "Server connection unexpectedly closed. "
                f"Read {len(exc.partial)} bytes but {exc.expected} bytes expected"
            ) from exc
        except OSError as exc:  # ConnectionError and the rest, as aiormq reports them
            raise AMQPConnectionError(f"Server communication error: {exc!r}") from exc
        try:
            return unmarshal(head + body)
        except (PAMQPException, struct.error, IndexError, UnicodeDecodeError) as exc:
            raise InvalidFrameError(str(exc)) from exc


class _CorkedWriter:
    """A ``StreamWriter`` whose writes in one loop turn leave as one."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending.clear()
            self._writer.write(data)

    async def drain(self) -> None:
        self.flush()
        await self._writer.drain()

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def __getattr__(self, name: str) -> Any:  # transport, is_closing, wait_closed ...
        return getattr(self._writer, name)


class CorkedTransportFactory(aiormq.connection.TCPTransportFactory):
    async def create(self, url: Any, **kwargs: Any) -> tuple[Any, Any]:
        reader, writer = await super().create(url, **kwargs)
        return reader, _CorkedWriter(writer)


_PUBLISH = struct.Struct(">HHH")  # class 60 (basic), method 40 (publish), reserved
_HEADER_START = struct.Struct(">HHQH")  # class 60, weight 0, body size, property flags
# Basic properties eventwire sets, by their flag bit (AMQP 0-9-1, 4.2.6.1).
_CONTENT_TYPE, _DELIVERY_MODE, _EXPIRATION, _MESSAGE_ID = 1 << 15, 1 << 12, 1 << 8, 1 << 7
_OURS = ("content_type", "delivery_mode", "expiration", "message_id")


def marshal_publish(
    channel: int,
    *,
    exchange: str,
    routing_key: str,
    mandatory: bool,
    properties: Any,
    body: bytes,
) -> bytes:
    """The three frames of a basic.publish, as pamqp would write them, in one ``bytes``."""
    method = (
        _PUBLISH.pack(60, 40, 0)
        + _shortstr(exchange)
        + _shortstr(routing_key)
        + bytes((1 if mandatory else 0,))
    )
    flags, values = 0, b""
    if properties.content_type is not None:
        flags |= _CONTENT_TYPE
        values += _shortstr(properties.content_type)
    if properties.delivery_mode is not None:
        flags |= _DELIVERY_MODE
        values += bytes((properties.delivery_mode,))
    if properties.expiration is not None:
        flags |= _EXPIRATION
        values += _shortstr(properties.expiration)
    if properties.message_id is not None:
        flags |= _MESSAGE_ID
        values += _shortstr(properties.message_id)
    header = _HEADER_START.pack(60, 0, len(body), flags) + values
    return (
        _frame(1, channel, method)
        + _frame(2, channel, header)
        + (_frame(3, channel, body) if body else b"")
    )


class OwnProperties:
    """The four basic properties eventwire sets, as ``marshal_publish`` reads them, without
    pamqp's ``Basic.Properties`` (it validates every field of every publish). Only for
    ``publish_nowait``: aiormq's own path is given pamqp's."""

    __slots__ = ("content_type", "delivery_mode", "expiration", "message_id")

    def __init__(
        self, content_type: str | None, delivery_mode: int | None, expiration: str | None
    ) -> None:
        self.content_type, self.delivery_mode = content_type, delivery_mode
        self.expiration, self.message_id = expiration, None

    def pamqp(self) -> Any:
        return spec.Basic.Properties(
            content_type=self.content_type,
            delivery_mode=self.delivery_mode,
            expiration=self.expiration,
            message_id=self.message_id,
        )


def _only_ours(properties: Any) -> bool:
    """Only the four properties ``marshal_publish`` writes are set (else: aiormq's path)."""
    if type(properties) is OwnProperties:
        return True
    return all(value is None or name in _OURS for name, value in properties.__dict__.items())


def _message_id() -> str:
    """A random 128-bit id in hex, as aiormq stamps (without building a ``uuid.UUID``)."""
    return f"{random.getrandbits(128):032x}"


def _forget(channel: Any, message_id: str, tag: int) -> Callable[[Any], None]:
    """Once confirmed (or returned, or failed), the message id no longer maps to its tag."""

    def forget(_: Any) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)

    return forget


_ACK = struct.Struct(">HHQB")  # class 60 (basic), method 80 (ack), delivery tag, multiple


def marshal_ack(channel: int, delivery_tag: int, multiple: bool) -> bytes:
    """A basic.ack frame, as pamqp would write it."""
    return _frame(1, channel, _ACK.pack(60, 80, delivery_tag, 1 if multiple else 0))


_PASSIVE_DECLARE = struct.Struct(">HHH")  # class 50 (queue), method 10 (declare), reserved
_PASSIVE_BITS = b"\x01\x00\x00\x00\x00"  # passive (no durable, exclusive, ...); no arguments


def marshal_passive_declare(channel: int, queue: str) -> bytes:
    """A queue.declare frame with only ``passive`` set, as pamqp would write it."""
    return _frame(1, channel, _PASSIVE_DECLARE.pack(50, 10, 0) + _shortstr(queue) + _PASSIVE_BITS)


class _Answers(asyncio.Queue):  # type: ignore[type-arg]
    """A channel's queue of method answers, which aiormq's reader fills: an answer an ``ask``
    waits for goes straight to it."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.waiter: asyncio.Future[Any] | None = None

    async def put(self, item: Any) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.waiter = None
            waiter.set_result(item)
            return
        await super().put(item)


_PROBE = spec.Queue.Declare(passive=True)  # what a probe's answer is checked against


class FastChannel(aiormq.channel.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Before the reader's first put (it starts on the next loop turn).
        self.rpc_frames = _Answers(self.rpc_frames.maxsize)

    async def probe(self, queue: str) -> Any:
        """A passive declare of ``queue`` through ``ask`` (its frame marshalled here)."""
        return await self.ask(
            _PROBE,
            ChannelFrame(payload=marshal_passive_declare(self.number, queue), should_close=False),
        )

    async def ask(self, frame: Any, marshalled: ChannelFrame | None = None) -> Any:
        """A synchronous method and its answer without aiormq's RPC (a task, a countdown and
        a context manager each: a twelfth of an edge's CPU in a reconnect storm, for the
        passive declares that find mailboxes). The channel lock pairs method and answer, as
        aiormq's does; what closed the channel meanwhile is raised, as aiormq raises it (a
        passive declare of a missing queue: ``ChannelNotFoundEntity``). Not cancel-safe (an
        answer arriving after would be the next RPC's): shield it, as aiormq's callers do."""
        if not frame.synchronous:
            return await self.rpc(frame)
        answers: _Answers = self.rpc_frames  # type: ignore[assignment]  # see __init__
        async with self.lock:
            waiter = self.create_future()  # rejected with the reason if the channel closes
            answers.waiter = waiter
            try:
                if marshalled is None:
                    marshalled = ChannelFrame.marshall(channel_number=self.number, frames=[frame])
                await self.write_queue.put(marshalled)
                answer = await waiter
            finally:
                if answers.waiter is waiter:
                    answers.waiter = None
        if answer.name not in frame.valid_responses:
            raise InvalidFrameError(frame)
        return answer

    async def send_marshalled(self, payload: bytes) -> None:
        """Queue methods the broker does not answer (``nowait``), marshalled by the caller
        (``methods.py``), for the writer in one write, without aiormq's RPC (a task, a timeout
        and the channel lock each); waits for room when the writer's queue is full. The
        broker applies a channel's methods in order, so a method sent after them that it
        answers (the commit's ``basic.qos``) is answered after they took effect."""
        if self.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError("the channel is closed")
        await self.write_queue.put(ChannelFrame(payload=payload, should_close=False))

    def ack_nowait(self, delivery_tag: int, multiple: bool = False) -> bool:
        """Queue a basic.ack for the writer now; False when it cannot be (the channel is
        closed or the writer queue full: then ``basic_ack``)."""
        if self.is_closed or self.write_queue.full():
            return False
        payload = marshal_ack(self.number, delivery_tag, multiple)
        self.write_queue.put_nowait(ChannelFrame(payload=payload, should_close=False))
        return True

    def _marshalled(
        self, body: bytes, exchange: str, routing_key: str, properties: Any, mandatory: bool
    ) -> tuple[str, bytes]:
        """The publish's message id (stamped if it had none, as aiormq does: returns are
        matched by it) and its three frames."""
        if not properties.message_id:
            properties.message_id = _message_id()
        payload = marshal_publish(
            self.number,
            exchange=exchange,
            routing_key=routing_key,
            mandatory=mandatory,
            properties=properties,
            body=body,
        )
        return properties.message_id, payload

    def publish_nowait(
        self,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        properties: Any,
        mandatory: bool,
    ) -> tuple[bool, asyncio.Future[Any] | None]:
        """Publish without awaiting anything: (True, the confirmation future or None without
        confirms) once queued for the writer; (False, None) when it cannot be now (the channel
        lock is held, the writer queue is full, or properties other than the four eventwire
        sets): then ``basic_publish``. Nothing is awaited between taking the delivery tag and
        queueing the frames, so no lock is needed for their order (aiormq takes one because
        its queue put may wait)."""
        lock = getattr(self, _LOCK, None)
        if (
            self.is_closed
            or lock is None
            or lock.locked()
            or self.write_queue.full()
            or len(body) >= self.max_content_size
            or not _only_ours(properties)
        ):
            return False, None
        message_id, payload = self._marshalled(body, exchange, routing_key, properties, mandatory)
        self.delivery_tag += 1
        tag = self.delivery_tag
        confirmation: asyncio.Future[Any] | None = None
        if self.publisher_confirms:
            confirmation = self.create_future()
            self.confirmations[tag] = confirmation
            self.message_id_delivery_tag[message_id] = tag
            confirmation.add_done_callback(_forget(self, message_id, tag))
        self.write_queue.put_nowait(ChannelFrame(payload=payload, should_close=False))
        return True, confirmation

    async def basic_publish(
        self,
        body: bytes,
        *,
        exchange: str = "",
        routing_key: str = "",
        properties: Any = None,
        mandatory: bool = False,
        immediate: bool = False,
        timeout: Any = None,
        wait: bool = True,
    ) -> Any:
        """aiormq's basic_publish for eventwire's own publishes (no wait, the four properties
        it sets, one body frame), with the frames marshalled in one go; anything else goes
        to aiormq's. Same bookkeeping: delivery tag, confirmation, message id for returns."""
        if (
            wait
            or immediate
            or timeout is not None
            or properties is None
            or len(body) >= self.max_content_size
            or not _only_ours(properties)
        ):
            return await super().basic_publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
                immediate=immediate,
                timeout=timeout,
                wait=wait,
            )
        written, confirmation = self.publish_nowait(
            body,
            exchange=exchange,
            routing_key=routing_key,
            properties=properties,
            mandatory=mandatory,
        )
        if not written:  # the lock is held or the writer queue full: wait for them
            confirmation = await self._publish_locked(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
            )
        if confirmation is None:
            return None
        return await confirmation

    async def _publish_locked(
        self, body: bytes, *, exchange: str, routing_key: str, properties: Any, mandatory: bool
    ) -> asyncio.Future[Any] | None:
        message_id, payload = self._marshalled(body, exchange, routing_key, properties, mandatory)
        confirmation: asyncio.Future[Any] | None = None
        async with self._raise_on_channel_close(), self.lock:
            self.delivery_tag += 1
            tag = self.delivery_tag
            if self.publisher_confirms:
                confirmation = self.create_future()
                self.confirmations[tag] = confirmation
                self.message_id_delivery_tag[message_id] = tag
            try:
                await self.write_queue.put(ChannelFrame(payload=payload, should_close=False))
            except BaseException:
                self.delivery_tag -= 1  # the broker never saw it: reuse the number
                self.confirmations.pop(tag, None)
                if self.message_id_delivery_tag.get(message_id) == tag:
                    self.message_id_delivery_tag.pop(message_id)
                if confirmation is not None:
                    confirmation.cancel()
                raise
        if confirmation is not None:
            confirmation.add_done_callback(_forget(self, message_id, tag))
        return confirmation

    async def _on_deliver_frame(self, frame: Any) -> None:
        header = getattr(frame, "header", None)
        if header is not None:  # read along by FastFrameReceiver
            message = DeliveredMessage(delivery=frame, header=header, body=frame.body, channel=self)
        else:
            header = await getattr(self, _CONTENT_HEADER)()
            message = await self._read_content(frame, header)
        consumer = self.consumers.get(frame.consumer_tag) if frame.consumer_tag else None
        if consumer is None:
            if frame.consumer_tag is None:
                log.warning("Frame %r has no consumer tag", frame)
            return
        # basic_consume wrapped a plain function in a coroutine (aiormq.tools.awaitable): call
        # the function itself instead of spawning a task for its wrapper.
        plain = getattr(consumer, "__wrapped__", None)
        if plain is not None and not inspect.iscoroutinefunction(plain):
            consumer = plain
        result = consumer(message)
        if inspect.iscoroutine(result):
            task = self.create_task(result)
            task.add_done_callback(self._on_consumer_done)


def install() -> bool:
    """Put the fast paths into aiormq (once per process); False where they do not apply."""
    global _installed
    if _installed is not None:
        return _installed
    try:
        version = metadata.version("aiormq")
    except metadata.PackageNotFoundError:
        version = ""
    connection = aiormq.connection
    wanted = os.environ.get("EVENTWIRE_AMQP_FASTPATH", "1").lower() not in ("0", "false", "no")
    fits = (
        wanted
        and version.startswith(SUPPORTED)
        and all(
            hasattr(target, name)
            for target, name in (
                (connection, "FrameReceiver"),
                (connection, "TCPTransportFactory"),
                (connection, "Channel"),
                (aiormq.channel.Channel, "_Channel__get_content_header"),
                (aiormq.channel.Channel, "_read_content"),
                (aiormq.channel.Channel, "_on_consumer_done"),
                (aiormq.channel.Channel, "_raise_on_channel_close"),
            )
        )
    )
    if fits:
        for name, replacement in (
            ("FrameReceiver", FastFrameReceiver),
            ("TCPTransportFactory", CorkedTransportFactory),
            ("Channel", FastChannel),
        ):
            setattr(connection, name, replacement)
        # Frames queued for the writer (aiormq: 10): what one loop turn can coalesce into one
        # write. Bounded: at most this many publishes (each <= EVENTWIRE_MAX_PAYLOAD_BYTES).
        connection.Connection.FRAME_BUFFER_SIZE = FRAME_BUFFER
    else:
        log.info("aiormq %s: eventwire's frame fast paths not installed", version or "?")
    _installed = fits
    return fits
