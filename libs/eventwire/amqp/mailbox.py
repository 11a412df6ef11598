"""Session mailboxes on RabbitMQ: one classic queue per session, consumed by its edge.

A mailbox is declared (``x-expires`` = the recovery window, bounds in events and bytes,
``drop-head``) and bound to its session's keys before the session's CONNECT is answered, so
nothing published after the tab connected misses it. Its letters are consumed on channels of
their own (``CHANNELS``, mailboxes spread by session id), each acknowledged when the edge
says so: alone, or with every letter before it on the channel in one multiple ack once all of
those are settled too (``plan_acks``). Other
channels take the passive declares that find a mailbox to resume: a missing queue closes the
channel that asked, so it is never one the consumers are on.

Declares, binds and the consume go out with ``nowait``, the methods of every mailbox attaching
on a channel at the time in one write, followed by one ``basic.qos`` that waits: the broker
applies one channel's methods in order, so its ``qos-ok`` means those mailboxes are declared,
bound and consumed, after one round trip for all of them instead of one each (a reconnect
storm's thousands of tabs share a few dozen). A closed tab's mailbox goes the same way: its
consumer's cancel and its queue's delete, ``nowait``, in its channel's next commit (5,000 tabs
closing at once: the edge busy 11 s instead of 22, 0.96 ms of its CPU each instead of 1.65).
The passive declares that find a mailbox to resume are spread over ``PROBES`` channels for the
same reason as the consumers.

A resumed mailbox is not bound again: a passive declare renews a queue's ``x-expires`` lease
(RabbitMQ counts it as a redeclare), so for a recovery window after the probe that found it
the mailbox cannot expire, and its durable bindings are still there. Re-binding an existing
binding cost the broker about as much as the rest of a resume (probes, declare, consume) in a
reconnect storm. When the resume took longer than ``LEASE_SHARE`` of the window since that
probe, it is bound again as a fresh one is (``rebinds_skipped`` counts the others).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import logging
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiormq
from aio_pika.abc import AbstractConnection
from aiormq.abc import DeliveredMessage

from .. import codec
from ..errors import BrokerUnavailable, ProtocolError
from ..mailbox import Backlog, Letter, LetterHandler, LetterNow
from ..settings import Settings
from ..tasks import TaskSet
from ..topology import QueueSpec
from . import fastpath, methods

if TYPE_CHECKING:
    from .bus import AmqpBus

log = logging.getLogger(__name__)

_GENERATION = 1 << 40  # a letter's tag: channel generation * this + the broker's delivery tag
_POLL = 0.05  # seconds between checks that another edge let go of a mailbox
# Mailboxes are spread over this many channels: a channel runs one synchronous method at a
# time, so connects (each ends with a consume) queue behind each other on one channel.
CHANNELS = 4
# A resuming tab asks the broker (passive declares) whether its mailbox is free; each probe
# waits for its answer on its channel, so a reconnect storm's thousands of probes are spread
# over this many channels instead of queueing one by one on one.
PROBES = 32
# A resumed mailbox is attached without binds when it is attached within this share of the
# recovery window after the probe that renewed its lease (see the module's docstring).
LEASE_SHARE = 0.5
_consumer_tags = itertools.count(1)


def _letter_id(message: DeliveredMessage) -> str:
    properties = message.header.properties if message.header is not None else None
    message_id = getattr(properties, "message_id", None)
    if message_id:
        return str(message_id)
    # Published without an id (not by eventwire): its body's digest, stable across redelivery.
    return "h" + hashlib.blake2b(message.body, digest_size=12).hexdigest()


def plan_acks(upto: int, settled: set[int], tags: list[int]) -> tuple[list[tuple[int, bool]], int]:
    """The acks, (tag, multiple), that settle delivery ``tags`` on a channel whose tags up to
    ``upto`` are settled, and ``settled`` those above it (updated); with the new ``upto``."""
    fresh = set(tags)
    settled |= fresh
    last = 0
    while upto + 1 in settled:
        upto += 1
        settled.discard(upto)
        if upto in fresh:
            last = upto
    plan = [(last, True)] if last else []
    plan += [(tag, False) for tag in sorted(fresh) if tag > upto]
    return plan, upto


class AmqpMailbox:
    def __init__(
        self,
        owner: AmqpMailboxes,
        session_id: str,
        spec: QueueSpec,
        keys: Sequence[str],
        *,
        bound: bool = False,
    ):
        self._owner = owner
        self._session_id = session_id
        self._spec = spec
        self._keys = list(keys)
        self._bound = bound  # its bindings are on the broker already: the next attach skips them
        # Letters waiting for the handler (or, before ``start``, for ``next_letter``), and the
        # task that hands them over: both only while there are some. Most letters are events
        # handled as they arrive (``LetterNow``), and an idle tab's mailbox then holds neither
        # (an asyncio.Queue is 3 KiB, a task and its coroutine 1.5 KiB more: at 5,000 tabs, a
        # fifth of what recovery costs an edge per connection).
        self._letters: asyncio.Queue[Letter] | None = None
        self._unacked: set[int] = set()  # tags (with generation) given out, not yet settled
        # Settled while their channel was dying: when they come again, acknowledged unseen.
        self._settled_ids: set[str] | None = None
        self._consumer_tag: str | None = None
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._generation = 0
        self._handler: LetterHandler | None = None
        self._now: LetterNow | None = None
        self._busy = False  # the handler task is on a letter
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._consumer: Any = self._receive if fastpath.install() else self._receive_async

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def name(self) -> str:
        return self._spec.name

    # -- on the broker ------------------------------------------------------------------

    async def attach(
        self, channel: aiormq.abc.AbstractChannel, exchange: str, generation: int
    ) -> None:
        """Declare (idempotent), bind, consume: one round trip, shared with the mailboxes
        attaching on the channel meanwhile (see the module's docstring)."""
        spec = self._spec
        self._channel, self._generation = channel, generation
        keys, self._bound = ([] if self._bound else self._keys), False  # later ones bind
        self._unacked.clear()
        letters = self._letters
        while letters is not None and not letters.empty():  # from a channel that died: they
            letters.get_nowait()  # come again
        if isinstance(channel, fastpath.FastChannel):
            # Declared, bound and consumed with nowait, under a tag of our own, and committed
            # with the other mailboxes attaching on this channel meanwhile: one round trip for
            # all of them.
            tag = f"mb{channel.number}.{next(_consumer_tags)}"
            frames = self._owner.methods.attach(
                channel.number,
                spec.name,
                durable=spec.durable,
                exchange=exchange,
                keys=keys,
                consumer_tag=tag,
            )
            self._consumer_tag = tag
            try:
                await self._owner.commit(channel, frames, tag, self._consumer)
            except BaseException:
                self._consumer_tag = None
                raise
            return
        await channel.queue_declare(
            spec.name, durable=spec.durable, arguments=spec.arguments, nowait=True
        )
        for key in keys:
            await channel.queue_bind(spec.name, exchange, routing_key=key, nowait=True)
        ok = await channel.basic_consume(spec.name, self._consumer)
        self._consumer_tag = ok.consumer_tag

    def detach(self) -> None:
        self._channel = None
        self._consumer_tag = None
        self._unacked.clear()  # the broker gives them back to the queue

    def _receive(self, message: DeliveredMessage) -> None:
        tag = self._generation * _GENERATION + (message.delivery_tag or 0)
        if self._settled_ids and message.delivery is not None:
            letter_id = _letter_id(message)
            if letter_id in self._settled_ids:
                self._settled_ids.discard(letter_id)
                if self._channel is not None:
                    self._owner.send_ack(self._channel, tag % _GENERATION)
                return
        try:
            decoded = codec.decode(message.body)
        except ProtocolError as exc:
            log.warning("mailbox %s: undecodable letter (%s)", self._spec.name, exc)
            decoded = None
        self._unacked.add(tag)
        self._owner.letters += 1
        delivery = message.delivery
        letter = Letter(
            key=message.routing_key or "",
            message=decoded,
            id=_letter_id(message),
            redelivered=bool(getattr(delivery, "redelivered", False)),
            size=len(message.body),
            tag=tag,
        )
        now = self._now
        letters = self._letters
        if now is not None and not self._busy and (letters is None or letters.empty()):
            try:
                if now(letter):
                    return
            except Exception:
                log.exception("mailbox %s: handler failed on a letter", self._spec.name)
                return
        if letters is None:
            letters = self._letters = asyncio.Queue()
        letters.put_nowait(letter)
        if self._started and self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"mailbox:{self._session_id}")

    async def _receive_async(self, message: DeliveredMessage) -> None:
        self._receive(message)  # aiormq runs each as a task, in arrival order

    # -- the Mailbox protocol -------------------------------------------------------------

    def start(self, handler: LetterHandler, now: LetterNow | None = None) -> None:
        if not self._started and not self._closed:
            self._handler, self._now, self._started = handler, now, True
            if self._letters is not None and not self._letters.empty():
                self._task = asyncio.create_task(self._run(), name=f"mailbox:{self._session_id}")

    async def _run(self) -> None:
        """Hand the waiting letters over in order, then end (the next one starts another)."""
        handler, letters = self._handler, self._letters
        if handler is None or letters is None:
            self._task = None
            return
        while not letters.empty():
            letter = letters.get_nowait()
            self._busy = True
            try:
                await handler(letter)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mailbox %s: handler failed on a letter", self._spec.name)
            finally:
                self._busy = False
        if self._task is asyncio.current_task():  # nothing waits: nothing is kept
            self._task = None
            if self._letters is letters:
                self._letters = None

    async def next_letter(self) -> Letter:
        """The next letter, before ``start`` (``resume`` collects the backlog with it)."""
        if self._letters is None:
            self._letters = asyncio.Queue()
        return await self._letters.get()

    def ack(self, letter: Letter) -> None:
        tag = letter.tag
        if tag // _GENERATION != self._generation or self._channel is None:
            # Given out on a channel that died: it comes again, to be acknowledged then.
            if self._settled_ids is None:
                self._settled_ids = set()
            if len(self._settled_ids) < self._owner.max_events:
                self._settled_ids.add(letter.id)
            return
        if tag not in self._unacked:
            return  # settled already
        self._unacked.discard(tag)
        self._owner.send_ack(self._channel, tag % _GENERATION)

    async def let_go(self) -> None:
        """Stop handing letters over; the broker takes the mailbox back with its channel,
        which the edge closes (``AmqpMailboxes.close``): nothing to send for it."""
        if not await self._close():
            return
        self._unacked.clear()
        self._channel = None

    async def release(self) -> None:
        """Stop consuming and give back what was not acknowledged, in order."""
        if not await self._close():
            return
        channel, tag = self._channel, self._consumer_tag
        if channel is None or channel.is_closed:
            return  # its channel died: the broker gave everything back already
        with contextlib.suppress(*_BROKER_ERRORS):
            await asyncio.shield(self._give_back(channel, tag))
        self._unacked.clear()
        self._channel = None

    async def _give_back(self, channel: aiormq.abc.AbstractChannel, tag: str | None) -> None:
        # Cancel (its answer comes after every delivery already on its way, so all of them
        # are in `_unacked`), the nacks right after, then a declare of the same queue on the
        # same channel: the broker applies one channel's methods to a queue in order, so its
        # answer means every letter is back. An edge resuming the mailbox waits until nobody
        # consumes it and its count holds still (AmqpMailboxes._find).
        if tag is not None:
            await channel.basic_cancel(tag)
        for each in sorted(self._unacked):
            if each // _GENERATION == self._generation:
                await channel.basic_nack(each % _GENERATION, requeue=True, wait=False)
                self._owner.settled(channel, each % _GENERATION)
        spec = self._spec
        await channel.queue_declare(spec.name, durable=spec.durable, arguments=spec.arguments)

    async def discard(self) -> None:
        """Delete the mailbox with its letters and bindings."""
        if not await self._close():
            return
        unacked, self._unacked = self._unacked, set()
        channel, tag = self._channel, self._consumer_tag
        await self._owner.delete(self._spec.name, channel, tag)
        if channel is not None:
            # Gone with their queue: never acknowledged one by one, but no longer in the
            # way of a multiple acknowledgement of the channel's later letters.
            for each in unacked | self._unacked:
                if each // _GENERATION == self._generation:
                    self._owner.settled(channel, each % _GENERATION)
        self._unacked.clear()
        self._channel = None

    async def _close(self) -> bool:
        """Hand no more letters over and leave the owner's table; False if closed already
        (each way out, ``let_go``, ``release`` and ``discard``, happens once)."""
        if self._closed:
            return False
        self._closed = True
        await self._stop_task()
        self._owner.forget(self)
        return True

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


_BROKER_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


class AmqpMailboxes:
    """Every mailbox of one edge, on the bus's connection (restored after a reconnect)."""

    def __init__(self, bus: AmqpBus, settings: Settings) -> None:
        self._bus = bus
        self._settings = settings
        self._exchange = bus.topology.events.name
        self._connection: AbstractConnection | None = None
        self._channels: list[aiormq.abc.AbstractChannel] = []
        self._probes: list[aiormq.abc.AbstractChannel | None] = []
        self._generation = 0
        self._open: dict[str, AmqpMailbox] = {}
        self._acks: list[tuple[aiormq.abc.AbstractChannel, int]] = []
        # Per channel: every delivery tag up to this one is settled, and the settled ones
        # above it (acknowledged alone, nacked, or of a deleted mailbox): see plan_acks.
        self._acked_upto: dict[aiormq.abc.AbstractChannel, int] = {}
        self._settled: dict[aiormq.abc.AbstractChannel, set[int]] = {}
        self._acking: asyncio.Task[None] | None = None
        self._flush_due = False  # _flush_now is scheduled for the end of this loop turn
        # Mailboxes waiting to attach, per channel, and the channels with a commit under way.
        self._batches: dict[aiormq.abc.AbstractChannel, list[tuple[Any, str | None, Any, Any]]] = {}
        # channel -> the task committing its batches (one at a time per channel)
        self._committing: dict[aiormq.abc.AbstractChannel, asyncio.Task[None]] = {}
        self._attaching = TaskSet("mailbox attach")
        self._arguments: dict[str, Any] = {}
        self.methods = methods.MailboxMethods(self._arguments)  # marshals with the arguments
        self.commits = 0  # batches of attaching mailboxes committed (one round trip each)
        self.rebinds_skipped = 0  # resumed mailboxes attached without binds (lease renewed)
        self.letters = 0
        self.max_events = settings.recovery_max_events

    def spec(self, session_id: str) -> QueueSpec:
        settings = self._settings
        spec = self._bus.topology.mailbox(
            session_id,
            expires_s=settings.recovery_window,
            max_events=settings.recovery_max_events,
            max_bytes=settings.recovery_max_bytes,
        )
        # Every mailbox's arguments are the same: one dict for all of them, not one each.
        if self._arguments != spec.arguments:
            self._arguments = spec.arguments
            self.methods = methods.MailboxMethods(self._arguments)
        return dataclasses.replace(spec, arguments=self._arguments)

    def delivered(self) -> int:
        return self.letters

    def __len__(self) -> int:
        return len(self._open)

    # -- the bus connection (an Attachment) ------------------------------------------------

    async def attach(self, connection: AbstractConnection) -> None:
        channels = []
        for _ in range(CHANNELS):
            channel = await (
                await connection.channel(publisher_confirms=False)
            ).get_underlay_channel()
            # Per consumer: a session's edge may have this many letters unconfirmed.
            await channel.basic_qos(prefetch_count=self._settings.recovery_max_events)
            channel.closing.add_done_callback(self._on_channel_closed)
            channels.append(channel)
        probes: list[aiormq.abc.AbstractChannel | None] = [None] * PROBES  # opened when asked
        self._connection, self._channels, self._probes = connection, channels, probes
        self._generation += 1
        generation = self._generation
        await asyncio.gather(  # together: batched per channel (commit)
            *(
                mailbox.attach(self._channel_for(mailbox.session_id), self._exchange, generation)
                for mailbox in list(self._open.values())
            )
        )

    def detach(self) -> None:
        self._connection = None
        self._probes = []
        self._channels = []
        self._acks.clear()
        self._acked_upto.clear()
        self._settled.clear()
        for mailbox in self._open.values():
            mailbox.detach()

    async def commit(
        self,
        channel: fastpath.FastChannel,
        frames: bytes,
        tag: str | None = None,
        consumer: Any = None,
    ) -> None:
        """Send a mailbox's ``nowait`` methods, marshalled (``methods.py``: declare, binds and
        consume ``tag`` with ``consumer``; or cancel and delete); return once the broker
        applied them. Every mailbox attaching or going on ``channel`` while a commit is on
        its way waits for the next one, which sends all their methods and then one
        ``basic.qos`` (the channel's prefetch, unchanged): the broker applies a channel's
        methods in order, so its ``qos-ok`` means every mailbox of the batch is declared,
        bound and consumed, or deleted."""
        done = asyncio.get_running_loop().create_future()
        batch = self._batches.setdefault(channel, [])
        batch.append((frames, tag, consumer, done))
        if channel not in self._committing:
            task = self._attaching.spawn(self._commit_batches(channel), name="mailbox-attach")
            self._committing[channel] = task
            # Its `finally` stops it, unless it is cancelled before it starts (the edge
            # stopping just as a mailbox attached or went): then this does, when it ends.
            task.add_done_callback(lambda task: self._stop_committing(channel, task, []))
        await done

    def _stop_committing(
        self, channel: fastpath.FastChannel, task: asyncio.Task[None] | None, batch: list[Any]
    ) -> None:
        """``task`` commits no more: whoever waits on it or on the channel's next batch is
        told the edge is stopping. Once only: nothing, if it stopped already (a committer
        started after it is at work)."""
        if self._committing.get(channel) is not task:
            return
        del self._committing[channel]
        stopped = BrokerUnavailable("the edge is stopping")
        for *_, done in batch + self._batches.pop(channel, []):
            if not done.done():
                done.set_exception(stopped)

    async def _commit_batches(self, channel: fastpath.FastChannel) -> None:
        batch: list[tuple[Any, str | None, Any, Any]] = []
        try:
            while batch := self._batches.pop(channel, []):
                frames = b"".join(each for each, _, _, _ in batch)
                for _, tag, consumer, _ in batch:
                    # As it is: FastChannel calls a plain function itself (no aiormq wrapper).
                    if tag is not None:
                        channel.consumers[tag] = consumer
                failure: Exception | None = None
                try:
                    await channel.send_marshalled(frames)
                    await channel.basic_qos(prefetch_count=self._settings.recovery_max_events)
                    self.commits += 1
                except Exception as exc:  # the channel or connection died: the whole batch
                    failure = exc
                for _, tag, _, done in batch:
                    if failure is not None and tag is not None:
                        channel.consumers.pop(tag, None)
                    if not done.done():
                        if failure is None:
                            done.set_result(None)
                        else:
                            done.set_exception(failure)
        finally:  # done, or cancelled (the edge stops): nobody is left waiting
            self._stop_committing(channel, asyncio.current_task(), batch)

    def _on_channel_closed(self, future: asyncio.Future[Any]) -> None:
        # Not our doing (a broker-side error): start over, as the bus does for its channels.
        if any(channel.closing is future for channel in self._channels):
            self._bus.unreachable("mailbox channel closed")

    def _channel_for(self, session_id: str) -> aiormq.abc.AbstractChannel:
        channels = self._channels
        if not channels or any(channel.is_closed for channel in channels):
            raise BrokerUnavailable("broker unreachable: the connection is down")
        return channels[zlib.crc32(session_id.encode()) % len(channels)]

    # -- mailboxes ----------------------------------------------------------------------

    async def open(
        self, session_id: str, keys: Sequence[str], *, bound: bool = False
    ) -> AmqpMailbox:
        """Declare, bind (unless ``bound``: its bindings are known to be there) and consume
        ``session_id``'s mailbox."""
        channel = self._channel_for(session_id)
        mailbox = AmqpMailbox(self, session_id, self.spec(session_id), keys, bound=bound)
        self._open[session_id] = mailbox
        try:
            await asyncio.shield(mailbox.attach(channel, self._exchange, self._generation))
        except _BROKER_ERRORS as exc:
            self._open.pop(session_id, None)
            raise BrokerUnavailable(f"broker unreachable: cannot open a mailbox ({exc})") from exc
        return mailbox

    async def resume(
        self, session_id: str, keys: Sequence[str], wait: float
    ) -> tuple[AmqpMailbox, Backlog] | None:
        spec = self.spec(session_id)
        found = await self._find(spec.name, wait)
        if found is None:
            return None
        backlog_count, probed = found
        loop = asyncio.get_running_loop()
        # The probe renewed its lease: within the window it cannot have expired, and its
        # bindings went nowhere.
        bound = loop.time() - probed < self._settings.recovery_window * LEASE_SHARE
        if bound:
            self.rebinds_skipped += 1
        mailbox = await self.open(session_id, keys, bound=bound)
        backlog = Backlog()
        try:
            async with asyncio.timeout(self._bus.broker_timeout):
                for _ in range(backlog_count):
                    letter = await mailbox.next_letter()
                    backlog.letters.append(letter)
                    backlog.bytes += letter.size
        except TimeoutError:
            backlog.maybe_dropped = True  # fewer than it said: expired or dropped meanwhile
        settings = self._settings
        if (
            backlog_count >= settings.recovery_max_events
            or backlog.bytes > settings.recovery_max_bytes - settings.max_payload_bytes
        ):
            backlog.maybe_dropped = True  # drop-head may have made room (see mailbox.py)
        return mailbox, backlog

    async def _find(self, name: str, wait: float) -> tuple[int, float] | None:
        """The number of letters waiting in mailbox ``name`` once nobody consumes it, and
        the loop time the last probe went out (it renewed the queue's lease); None when it
        does not exist, or is still consumed after ``wait`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        settled: int | None = None
        slot = zlib.crc32(name.encode()) % PROBES
        while True:
            probe = self._probes[slot] if len(self._probes) > slot else None
            if probe is None or probe.is_closed:
                probe = await self._open_probe(slot)
            sent = loop.time()
            try:
                if isinstance(probe, fastpath.FastChannel):
                    asked = probe.probe(name)
                else:
                    asked = probe.queue_declare(name, passive=True)
                ok = await asyncio.shield(asked)
            except aiormq.exceptions.ChannelNotFoundEntity:
                # The broker closed this probe channel for it: the next probe opens another.
                if len(self._probes) > slot and self._probes[slot] is probe:
                    self._probes[slot] = None
                return None
            except _BROKER_ERRORS as exc:
                raise BrokerUnavailable(f"broker unreachable: {exc}") from exc
            if not ok.consumer_count:
                count = int(ok.message_count or 0)
                if settled == count:
                    return count, sent
                settled = count  # once more: letters given back by a releasing edge land now
                await asyncio.sleep(_POLL / 5)
                continue
            settled = None
            if loop.time() >= deadline:
                log.info("mailbox %s is still consumed after %.1fs: not resumed", name, wait)
                return None
            await asyncio.sleep(_POLL)

    async def _open_probe(self, slot: int) -> aiormq.abc.AbstractChannel:
        connection = self._connection
        if connection is None or len(self._probes) <= slot:
            raise BrokerUnavailable("broker unreachable: the connection is down")
        probe = await (await connection.channel(publisher_confirms=False)).get_underlay_channel()
        if self._connection is not connection:  # detached meanwhile: not for the new one
            await probe.close()
            raise BrokerUnavailable("broker unreachable: the connection is down")
        old = self._probes[slot]
        if old is not None and not old.is_closed:  # another probe opened one meanwhile
            await probe.close()
            return old
        self._probes[slot] = probe
        return probe

    def forget(self, mailbox: AmqpMailbox) -> None:
        if self._open.get(mailbox.session_id) is mailbox:
            del self._open[mailbox.session_id]

    async def delete(
        self, name: str, channel: aiormq.abc.AbstractChannel | None, tag: str | None
    ) -> None:
        """Cancel the mailbox's consumer ``tag`` (else the broker cancels it, loudly) and
        delete its queue; return once the broker did. On eventwire's channel both go with
        ``nowait`` in the channel's next commit, one round trip shared with every mailbox
        attaching or going meanwhile, as a consumer's letters never come after its cancel."""
        if channel is None or channel.is_closed:
            return  # it expires with the window
        with contextlib.suppress(BrokerUnavailable, *_BROKER_ERRORS):  # it expires then
            if isinstance(channel, fastpath.FastChannel):
                frames = methods.delete(channel.number, name, tag)
                try:
                    await asyncio.shield(self.commit(channel, frames))
                finally:
                    if tag is not None:
                        channel.consumers.pop(tag, None)
                return
            if tag is not None:
                await asyncio.shield(channel.basic_cancel(tag))
            await asyncio.shield(channel.queue_delete(name))

    async def close(self) -> None:
        """The edge is stopping or draining: every mailbox goes back (its tabs may come back
        elsewhere), all at once, as when an edge dies: its channels close, and for each
        mailbox the broker drops the consumer and requeues what was not acknowledged in one
        step, which is what a resuming edge waits for (``_find``). A round trip per channel
        instead of two per mailbox, one after the other (a draining edge with 5,000 tabs
        took 15 s to let them go; the last ones resumed that late). Acknowledgements already
        sent go first, as the broker reads a channel in order. Once only: later calls find
        nothing to give back."""
        for mailbox in list(self._open.values()):
            await mailbox.let_go()
        channels, self._channels = self._channels, []  # not "closed unexpectedly" now
        await asyncio.gather(*(self._close_channel(channel) for channel in channels))
        await self._attaching.close()
        if self._acking is not None:
            with contextlib.suppress(asyncio.CancelledError, *_BROKER_ERRORS):
                await self._acking

    async def _close_channel(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Close ``channel``, within the broker timeout (a frozen broker may never answer):
        the channels together, so stopping waits that long once, not once per channel."""
        with contextlib.suppress(*_BROKER_ERRORS):
            async with asyncio.timeout(self._bus.broker_timeout):
                await channel.close()

    # -- acknowledgements, sent in the background in the order they were made -----------
    #
    # A channel numbers its deliveries 1, 2, 3 ... across all its consumers (the mailboxes
    # on it), and a multiple ack settles every outstanding delivery up to its tag. So when
    # the tags to acknowledge, with those settled before, run unbroken from the last one
    # covered, one multiple ack settles the whole run: after a burst, the pongs of many
    # sessions confirm their letters together and a frame per letter becomes a frame per
    # flush. A tag not settled by this edge (a letter still unconfirmed, of any session)
    # ends the run: what lies beyond it is acknowledged one by one.

    def send_ack(self, channel: aiormq.abc.AbstractChannel, tag: int) -> None:
        self._acks.append((channel, tag))
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_now)

    def _flush_now(self) -> None:
        """At the end of the loop turn: the turn's acks, planned and queued for the writer at
        once; what cannot be (a full writer queue) goes to a task, in order, and until it is
        done every later ack waits behind it (an ack must never follow a multiple ack that
        already covered it: the broker closes the channel for that)."""
        self._flush_due = False
        if self._acking is not None and not self._acking.done():
            return  # it takes the new ones too, after its own
        later: list[tuple[aiormq.abc.AbstractChannel, int, bool]] = []
        for channel, tag, multiple in self._planned():
            if later or not (
                isinstance(channel, fastpath.FastChannel) and channel.ack_nowait(tag, multiple)
            ):
                later.append((channel, tag, multiple))
        if later:
            self._acking = asyncio.create_task(self._flush_acks(later), name="mailbox-acks")

    def settled(self, channel: aiormq.abc.AbstractChannel, tag: int) -> None:
        """``tag`` was settled otherwise (nacked, or its mailbox deleted)."""
        if not channel.is_closed:
            self._settled.setdefault(channel, set()).add(tag)

    def _planned(self) -> list[tuple[aiormq.abc.AbstractChannel, int, bool]]:
        """The acks to send for what was asked so far, (channel, tag, multiple), in order;
        none for a channel that closed (the broker gave its letters back with it)."""
        batch, self._acks = self._acks, []
        by_channel: dict[aiormq.abc.AbstractChannel, list[int]] = {}
        for channel, tag in batch:
            by_channel.setdefault(channel, []).append(tag)
        planned = []
        for channel, tags in by_channel.items():
            if channel.is_closed:
                continue
            settled = self._settled.setdefault(channel, set())
            plan, self._acked_upto[channel] = plan_acks(
                self._acked_upto.get(channel, 0), settled, tags
            )
            planned += [(channel, tag, multiple) for tag, multiple in plan]
        return planned

    async def _flush_acks(
        self, planned: list[tuple[aiormq.abc.AbstractChannel, int, bool]]
    ) -> None:
        while True:
            for channel, tag, multiple in planned:
                if not channel.is_closed:
                    with contextlib.suppress(*_BROKER_ERRORS):
                        await channel.basic_ack(tag, multiple=multiple, wait=False)
            if not self._acks:
                return
            planned = self._planned()
