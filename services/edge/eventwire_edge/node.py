"""One edge node: the socket gate on one side, the node's bus inbox on the other.

With recovery on, each socket's session has a mailbox (``mailbox_sessions.py``,
``recovery.py``); without it, the node binds its queue to ``session.<sid>`` and ``user.<uid>``
for each socket it holds. Either way the broker sends it only events for those sockets. Calls
are served by ``calls.py``, as tasks owned per session. Every client packet passes the gate
(``gate.py``) first; Open WebUI's other socket events are ``handlers.py``. ``drain`` (SIGTERM)
sends the node's sockets to other nodes without losing events (``drain.py``, ``handoff.py``);
the counters kept here are read by ``metrics.py`` when scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from eventwire import errors
from eventwire.auth import Identity
from eventwire.bus import Bus, Inbox
from eventwire.calls import Caller
from eventwire.client import Eventwire
from eventwire.dispatch import Dispatcher
from eventwire.metrics import LATENCY_BUCKETS, Histogram
from eventwire.protocol import (
    CallCancel,
    CallRequest,
    ChannelEmit,
    Emit,
    Handoff,
    HandoffAsk,
    Message,
)
from eventwire.settings import DEV_SECRET
from eventwire.tasks import TaskSet
from eventwire.topology import channel_key, session_key, session_of, user_key

from .announcer import EdgePresence
from .authorizer import ChannelAuthorizer, load_authorizer
from .bindings import Bindings
from .calls import Calls
from .drain import drain_node, drop_transport
from .external import ScopedEvents
from .fastemit import EventWriter
from .gate import Gate, Member
from .handlers import Surface
from .handoff import HandoffStats, Holds, Parking
from .mailbox_sessions import MailboxSessions
from .settings import EdgeSettings
from .socketserver import EdgeSocketServer

log = logging.getLogger(__name__)
# python-socketio's and python-engineio's own loggers, under ours: given a logger they add no
# stream handler of their own (which printed each of their errors twice), and only warnings
# and errors get through (at INFO they log every packet).
_LIBRARY_LOG = logging.getLogger("eventwire_edge.socketio")
_LIBRARY_LOG.setLevel(logging.WARNING)


@dataclass
class EdgeStats:
    bus_messages: int = 0  # every message the node's queue delivered
    emits_delivered: int = 0
    emits_refused: int = 0  # routed here but aimed at a session of another user
    emits_not_json: int = 0  # carried NaN / Infinity (a publisher that skipped the SDK)
    calls_served: int = 0
    calls_answered: int = 0
    calls_failed: int = 0


class EdgeNode:
    def __init__(
        self,
        settings: EdgeSettings,
        bus: Bus,
        *,
        node_id: str | None = None,
        authorizer: ChannelAuthorizer | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self.stats = EdgeStats()
        # Read at scrape time (metrics.py); kept by kind and outcome, per event a dict update.
        self.messages_in: Counter[str] = Counter()
        self.delivery_seconds = Histogram(LATENCY_BUCKETS)
        self.draining = False
        self.handoff_stats = HandoffStats()
        self.sio = EdgeSocketServer(
            settings, async_mode="aiohttp", logger=_LIBRARY_LOG, engineio_logger=_LIBRARY_LOG
        )
        # The node's own SDK client on the shared bus (external events); it needs no presence
        # replica of its own. Requests to workers (stop, model list) go through ``requests``.
        self.client = Eventwire(
            settings.model_copy(update={"client_presence": False}), bus=bus, owns_bus=False
        )
        self.requests = Caller(bus, f"node-{self.node_id}-requests")
        self.jobs = bus.job_queue()
        self._sessions: dict[str, Identity] = {}
        # session id -> call id -> (request, task serving it)
        self.calls = Calls(self)  # __event_call__ served here (calls.py)
        self._inbox: Inbox | None = None
        # Recovery on (EVENTWIRE_RECOVERY_WINDOW): sessions' events come from their mailboxes.
        self.mailboxed: MailboxSessions | None = None
        self._background = TaskSet("edge")
        self._bindings: Bindings | None = None
        self.gate = Gate(settings, self)
        self.sio.register_namespace(self.gate)
        self.writer = EventWriter(self.sio)  # events to sockets, encoded once (fastemit.py)
        self.sio.guard = self.gate
        self.presence = EdgePresence(bus, settings, self.node_id)
        # Open WebUI's other socket events: user-join, channels, user-list, usage (handlers.py).
        self.surface = Surface(
            self.sio,
            bus,
            self.presence,
            authorizer or load_authorizer(settings.channel_authorizer),
            self.gate,
        )
        self.gate.handle(self.surface.handlers())
        self._dispatch = Dispatcher(f"edge node {self.node_id}")
        self._dispatch.on(Emit, self._deliver)
        self._dispatch.on(CallRequest, self.calls.serve)
        self._dispatch.on(CallCancel, self.calls.cancel)
        self._dispatch.on(ChannelEmit, self._deliver_channel)
        self._dispatch.on(HandoffAsk, self._on_handoff_ask)
        self._dispatch.on(Handoff, self._on_handoff)
        queue = bus.topology.node_queue(self.node_id, settings.node_queue_expires).name
        self.parking = Parking(self.node_id, bus, queue, self.handoff_stats)
        self.holds = Holds(bus, queue, self._deliver_held, self.handoff_stats)
        # What external tools may push with chat-scoped tokens (external.py, the HTTP API).
        self.scoped_events = ScopedEvents(settings)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.secret == DEV_SECRET:
            log.warning("WEBUI_SECRET_KEY is the public development default; set your own")
        await self.bus.start()
        spec = self.bus.topology.node_queue(self.node_id, self.settings.node_queue_expires)
        self._inbox = await self.bus.open_inbox(spec, self._counted)
        await self.client.connect()
        await self.requests.start()
        await self.jobs.start()
        self._bindings = Bindings(self._inbox)
        if self.settings.recovers:
            mailboxes = await self.bus.mailboxes()
            if mailboxes is not None:
                self.mailboxed = MailboxSessions(self, mailboxes)
                self.sio.hooks = self.mailboxed
        log.info("edge node %s consuming %s", self.node_id, spec.name)
        self.surface.start(self._bindings)
        await self.presence.start()

    async def stop(self) -> None:
        if self.mailboxed is not None:
            # First: every tab here may come back elsewhere and get what it missed.
            await self.mailboxed.close()
        for sid in self.calls.sessions():
            await self.calls.abort(sid, "edge node shutting down")
        await self.parking.close()
        await self.holds.close()
        await self.presence.close()
        # Disconnect every socket ourselves: sio.shutdown() leaves websockets open, and the
        # web server's cleanup would then wait for each handler to time out.
        for sid in list(self._sessions):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid)
        with contextlib.suppress(Exception):
            await self.sio.engine.disconnect()  # and cut off those not reading their goodbye
        with contextlib.suppress(Exception):
            await self.sio.shutdown()
        await self._background.close()
        await self.calls.close()
        await self.requests.close()
        await self.client.close()
        await self.bus.close()

    async def drain(self, grace: float) -> None:
        """Hand every socket to other nodes within ``grace`` seconds (``drain.py``)."""
        await drain_node(self, grace)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` in the background, owned by the node (stopped with it)."""
        self._background.spawn(work, name=name)

    def calls_in_flight(self) -> list[asyncio.Task[None]]:
        return self.calls.in_flight()

    def session_ids(self) -> list[str]:
        return list(self._sessions)

    def users_of_sessions(self) -> Counter[str]:
        """How many sockets each user has here."""
        return Counter(identity.id for identity in self._sessions.values())

    @property
    def call_seconds(self) -> Histogram:
        return self.calls.seconds

    @property
    def call_outcomes(self) -> Counter[str]:
        return self.calls.outcomes

    @property
    def inbox_name(self) -> str | None:
        return self._inbox.name if self._inbox is not None else None

    @property
    def ready(self) -> bool:
        return self.bus.connected and self._bindings is not None and not self.draining

    @property
    def connections(self) -> int:
        return len(self._sessions)

    @property
    def bound_keys(self) -> int:
        """Keys bound for this node's sockets: its queue's, and each mailbox's two."""
        mailboxed = 2 * self.mailboxed.mailbox_count if self.mailboxed is not None else 0
        return (len(self._bindings.keys) if self._bindings else 0) + mailboxed

    def describe(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "broker_connected": self.bus.connected,
            "draining": self.draining,
            "sessions": len(self._sessions),
            "users": len({i.id for i in self._sessions.values()}),
            "bound_keys": self.bound_keys,
            "pending_calls": self.calls.pending(),
            "outbox": self.bus.outbox_depth,
            "unexpected_messages": self._dispatch.unexpected,
            **asdict(self.stats),
            **asdict(self.handoff_stats),
            "held_sessions": len(self.holds.held),
            **asdict(self.gate.stats),
            **asdict(self.sio.engine.outgoing),
            **asdict(self.surface.stats),
            **self.presence.stats(),
            **self.scoped_events.describe(),
            "recovery": self.mailboxed.describe() if self.mailboxed is not None else None,
        }

    # -- sessions (what the gate hands over) ------------------------------------------

    def verified(self, sid: str, token: object) -> Identity | None:
        return self.mailboxed.verified(sid, token) if self.mailboxed is not None else None

    async def open_session(self, sid: str, member: Member) -> None:
        if self._bindings is None:
            raise errors.BrokerUnavailable("edge node is starting")
        identity = member.identity
        if self.mailboxed is not None:
            self._sessions[sid] = identity
            try:
                await self.mailboxed.open(sid, identity)
            except BaseException:
                self._sessions.pop(sid, None)
                raise
            await self.sio.enter_room(sid, user_key(identity.id))
            self.presence.announcer.join(sid, identity.id)
            log.debug("session %s connected for user %s (mailbox)", sid, identity.id)
            return
        # A user still on a draining node: this session's events wait for that node's
        # handoff (held from before it can receive any, asked for once its keys are bound).
        sources = self.presence.replica.view.handoff_sources(identity.id)
        if sources:
            self.holds.hold(sid, identity.id, sources)
        keys = (session_key(sid), user_key(identity.id))
        self._sessions[sid] = identity
        try:
            await self.sio.enter_room(sid, keys[1])
            await self._bindings.acquire(*keys)
        except BaseException:
            # Refused half-way (the broker went away): leave nothing behind, not even counts.
            self._sessions.pop(sid, None)
            await self.sio.leave_room(sid, keys[1])
            with contextlib.suppress(errors.EventwireError):
                await self._bindings.release(*keys)
            raise
        self.presence.announcer.join(sid, identity.id)
        if sources:
            self._background.spawn(self.holds.ask(sid, sources), name=f"handoff-ask:{sid}")
        if self.parking.active:  # slipped in while the node sent its sockets away
            self.parking.add_socket(identity.id)
            self._background.spawn(drop_transport(self.sio, sid), name=f"drop:{sid}")
        log.debug("session %s connected for user %s", sid, identity.id)

    async def close_session(self, sid: str, member: Member, reason: str | None = None) -> None:
        self._sessions.pop(sid, None)
        if self.mailboxed is not None:
            closed = reason == self.sio.reason.SERVER_DISCONNECT or self.sio.closed_cleanly(sid)
            if closed:  # mailbox first: a caller told "disconnected" then finds it gone
                await self.mailboxed.close_session(sid, closed=True)
                await self.calls.abort(sid, "client disconnected before answering")
            else:  # its tab may come back: its calls are asked again then
                await self.calls.abort(sid, "", answer=False)
                await self.mailboxed.close_session(sid, closed=False)
            self.presence.announcer.leave(sid)
            if self._bindings is not None and member.channels:
                await self._bindings.release(*(channel_key(c) for c in member.channels))
            log.debug("session %s %s", sid, "closed" if closed else "dropped (recoverable)")
            return
        self.holds.drop(sid)
        if self.parking.active:
            # Sent away: its bindings stay until its user's handoff, its presence until the
            # node leaves, so the node it lands on knows to ask here.
            await self.calls.abort(
                sid, f"edge node {self.node_id} is draining; the client reconnects elsewhere"
            )
            return
        await self.calls.abort(sid, "client disconnected before answering")
        self.presence.announcer.leave(sid)
        if self._bindings is not None:
            keys = [session_key(sid), user_key(member.identity.id)]
            keys += [channel_key(c) for c in member.channels]
            await self._bindings.release(*keys)
        log.debug("session %s disconnected", sid)

    def identity(self, sid: str) -> Identity | None:
        return self._sessions.get(sid)

    def online_users(self) -> list[str]:
        """Users with a session on any edge node, as this node's presence replica sees them."""
        return self.presence.replica.view.user_ids()

    def models_in_use(self) -> list[str]:
        """Models some session reported with ``usage`` lately, cluster-wide."""
        return self.presence.replica.view.models_in_use()

    # -- bus side ----------------------------------------------------------------------

    async def _counted(self, key: str, message: Message) -> None:
        self.stats.bus_messages += 1
        self.messages_in[message.kind] += 1
        await self._dispatch(key, message)

    async def _on_handoff_ask(self, _key: str, ask: HandoffAsk) -> None:
        self.parking.ask(ask)

    async def _on_handoff(self, _key: str, handoff: Handoff) -> None:
        if handoff.node_id == self.node_id:  # our own marker (handoff.py)
            self.parking.marked(handoff.session_id)
        else:
            await self.holds.receive(handoff)

    async def _deliver_channel(self, key: str, message: ChannelEmit) -> None:
        if key != channel_key(message.channel_id):
            log.warning("channel message for %s arrived on %s; dropped", message.channel_id, key)
            return
        if not self.emit_to(message.event, (message.payload,), key):
            return
        self.surface.stats.channel_events_delivered += 1

    async def _deliver(self, key: str, emit: Emit) -> None:
        sid = session_of(key)
        skip: list[str] | None = None
        if sid is None:
            if key != user_key(emit.user_id):
                self.stats.emits_refused += 1
                return
            room = key
            if self.parking.active or self.holds.held:  # a drain is under way somewhere
                if self.parking.keep(emit):
                    return
                skip = self.holds.keep_for_user(emit)
        else:
            identity = self._sessions.get(sid)
            if identity is None or identity.id != emit.user_id:
                self.stats.emits_refused += 1
                return
            if self.holds.held and self.holds.keep(sid, emit):
                return
            room = sid
        if self.emit_to(emit.event, (emit.payload,), room, skip):
            self.delivered(emit)

    async def _deliver_held(self, sid: str, emit: Emit) -> None:
        if self.emit_to(emit.event, (emit.payload,), sid):
            self.delivered(emit)

    def emit_to(
        self, event: str, args: tuple[Any, ...], room: str, skip: list[str] | None = None
    ) -> bool:
        """Write an event to a room (a sid is one); False when it is not JSON (NaN /
        Infinity): counted and logged, nothing written."""
        try:
            self.writer.write(event, args, room, skip)
        except ValueError as exc:  # the packet's JSON writer refuses non-finite numbers
            self.stats.emits_not_json += 1
            log.warning("dropped a %r event for %s: not JSON (%s)", event, room, exc)
            return False
        return True

    def delivered(self, emit: Emit) -> None:
        """Count an event written to its sockets, and its latency from the SDK."""
        self.stats.emits_delivered += 1
        if emit.at is not None:
            self.delivery_seconds.observe(time.time() - emit.at)
