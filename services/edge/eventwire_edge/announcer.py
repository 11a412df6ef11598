"""An edge node's side of presence: it announces its own sessions to every replica.

Each change of the node's sessions goes out with the next ``seq``; a heartbeat when the node has
been quiet for ``presence_interval`` (``PresenceDraining`` instead once it drains); a snapshot,
in parts, to any replica that asks; a goodbye on clean shutdown. One task sends everything, in
order, so handlers never wait on the broker.

A failed announcement never delays the heartbeat (replicas would drop every session of a node
they stop hearing): only a sent message counts as speaking. A snapshot is split into parts by
size, so however many sessions and models a node holds, every part fits one message. Each
session holds at most ``EVENTWIRE_MAX_MODELS_PER_SESSION`` models, so one client cannot make
its own announcements outgrow the payload limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from eventwire.bus import Bus
from eventwire.errors import EventwireError
from eventwire.presence import Replica
from eventwire.presence_bus import BusPresence
from eventwire.protocol import (
    PresenceBeat,
    PresenceChange,
    PresenceDraining,
    PresenceSnapshot,
    PresenceSync,
    PresentSession,
)
from eventwire.topology import PRESENCE_KEY

from .settings import EdgeSettings

log = logging.getLogger(__name__)

SNAPSHOT_PART = 500  # sessions per snapshot message at most (and bytes: see ``split``)


@dataclass(frozen=True, slots=True)
class _Change:
    session: PresentSession
    online: bool


@dataclass(frozen=True, slots=True)
class _SnapshotFor:
    reply_to: str


@dataclass(frozen=True, slots=True)
class _Draining:
    sent: asyncio.Event


class Announcer:
    """An edge node's sessions, announced in order by one task; handlers never wait on it."""

    def __init__(self, bus: Bus, view: Replica, node_id: str, settings: EdgeSettings) -> None:
        self.node_id = node_id
        self.incarnation = uuid.uuid4().hex[:12]
        self._bus = bus
        self._view = view
        self._interval = settings.presence_interval
        self._recovers = settings.recovers
        self._usage_timeout = settings.usage_timeout
        self._max_models = settings.max_models_per_session
        # Half the limit for the sessions of a snapshot part: the rest is its header and peers.
        self._part_bytes = settings.max_payload_bytes // 2
        self._sessions: dict[str, PresentSession] = {}
        # sid -> model -> last report, least recently reported first
        self._usage: dict[str, dict[str, float]] = {}
        self._out: asyncio.Queue[_Change | _SnapshotFor | _Draining] = asyncio.Queue()
        self._draining: str | None = None  # the queue handoff requests go to, once draining
        self._seq = 0
        self._beat_due = -math.inf  # when the next heartbeat goes out, unless something is sent
        self._failing: dict[str, int] = {}  # kind -> consecutive failures
        self.published = 0
        self.failed = 0
        view.own(node_id, self.incarnation)

    # -- what the node's handlers report ---------------------------------------------------

    def join(self, session_id: str, user_id: str) -> None:
        current = self._sessions.get(session_id)
        if current is None or current.user_id != user_id:
            self._set(PresentSession(session_id=session_id, user_id=user_id))

    def leave(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        self._usage.pop(session_id, None)
        if session is not None:
            self._view.remove_local(self.node_id, session_id)
            self._out.put_nowait(_Change(session, online=False))

    def use_model(self, session_id: str, model: str, now: float) -> bool:
        """Record a ``usage`` report; announced only when the session's set of models changes."""
        session = self._sessions.get(session_id)
        if session is None:
            return False
        usage = self._usage.setdefault(session_id, {})
        fresh = usage.pop(model, None) is None
        usage[model] = now  # now the most recently reported
        while len(usage) > self._max_models:
            del usage[next(iter(usage))]  # the least recently reported goes
        if fresh:
            self._set(session.model_copy(update={"models": tuple(sorted(usage))}))
        return True

    def expire_usage(self, now: float) -> None:
        for sid, usage in list(self._usage.items()):
            stale = [m for m, at in usage.items() if now - at > self._usage_timeout]
            if not stale:
                continue
            for model in stale:
                del usage[model]
            session = self._sessions.get(sid)
            if session is not None:
                self._set(session.model_copy(update={"models": tuple(sorted(usage))}))

    def on_sync(self, request: PresenceSync) -> None:
        """A replica asked for the state of every node, or of this one: send it a snapshot."""
        if request.node_id in (None, self.node_id):
            self._out.put_nowait(_SnapshotFor(request.reply_to))

    async def announce_draining(self, queue: str) -> None:
        """Say (now, and in every heartbeat after) that this node drains; wait until said."""
        self._draining = queue
        sent = asyncio.Event()
        self._out.put_nowait(_Draining(sent))
        await sent.wait()

    def _set(self, session: PresentSession) -> None:
        self._sessions[session.session_id] = session
        self._view.put_local(self.node_id, session)
        self._out.put_nowait(_Change(session, online=True))

    # -- the one task that speaks for the node ---------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        expired_at = loop.time()
        while True:
            if loop.time() - expired_at >= self._interval / 2:
                expired_at = loop.time()
                self.expire_usage(expired_at)
            quiet_for = self._beat_due - loop.time()
            if quiet_for <= 0:
                await self._publish(self._beat())
                continue
            try:
                async with asyncio.timeout(min(quiet_for, self._interval / 2)):
                    item = await self._out.get()
            except TimeoutError:
                continue
            if isinstance(item, _Change):
                self._seq += 1
                await self._publish(
                    PresenceChange(
                        node_id=self.node_id,
                        incarnation=self.incarnation,
                        seq=self._seq,
                        session=item.session,
                        online=item.online,
                        recovers=self._recovers,
                    )
                )
            elif isinstance(item, _Draining):
                await self._publish(self._beat())
                item.sent.set()
            else:
                await self._send_snapshot(item.reply_to)

    async def say_goodbye(self) -> None:
        """Tell every replica this node is leaving (best effort: silence expires it anyway)."""
        await self._publish(self._beat(leaving=True))

    def _beat(self, *, leaving: bool = False) -> PresenceBeat | PresenceDraining:
        if self._draining is not None and not leaving:
            return PresenceDraining(
                node_id=self.node_id,
                incarnation=self.incarnation,
                seq=self._seq,
                queue=self._draining,
                recovers=self._recovers,
            )
        return PresenceBeat(
            node_id=self.node_id,
            incarnation=self.incarnation,
            seq=self._seq,
            leaving=leaving,
            recovers=self._recovers,
        )

    async def _publish(self, message: PresenceChange | PresenceBeat | PresenceDraining) -> None:
        loop = asyncio.get_running_loop()
        try:
            await self._bus.publish(PRESENCE_KEY, message)
        except EventwireError as exc:
            # Lost changes show up as a seq gap at the next heartbeat: replicas then resync. A
            # failed change leaves the heartbeat due; a failed heartbeat is retried an
            # interval later (not at once: the broker may be down).
            if isinstance(message, PresenceBeat | PresenceDraining):
                self._beat_due = loop.time() + self._interval
            self._failed(message.kind, exc)
            return
        self._beat_due = loop.time() + self._interval
        self.published += 1
        self._failing.pop(message.kind, None)

    def _failed(self, kind: str, exc: EventwireError) -> None:
        self.failed += 1
        streak = self._failing[kind] = self._failing.get(kind, 0) + 1
        if math.log10(streak).is_integer():  # the 1st, 10th, 100th ... in a row
            log.warning(
                "presence %s of node %s not sent (%d in a row): %s",
                kind,
                self.node_id,
                streak,
                exc,
            )

    def split(self, sessions: Iterable[PresentSession]) -> list[list[PresentSession]]:
        """Snapshot parts, each of at most ``SNAPSHOT_PART`` sessions and half the payload
        limit in bytes; always at least one part (an empty node says so too)."""
        parts: list[list[PresentSession]] = [[]]
        size = 0
        for each in sessions:
            session, cost = each, _session_bytes(each)
            if cost > self._part_bytes:  # cannot be: models are bounded; never drop it though
                log.debug("presence: session %s sent without its models", each.session_id)
                session = each.model_copy(update={"models": ()})
                cost = _session_bytes(session)
            if parts[-1] and (len(parts[-1]) >= SNAPSHOT_PART or size + cost > self._part_bytes):
                parts.append([])
                size = 0
            parts[-1].append(session)
            size += cost
        return parts

    async def _send_snapshot(self, reply_to: str) -> None:
        parts = self.split(self._sessions.values())
        peers = self._view.nodes()
        try:
            for i, part in enumerate(parts):
                await self._bus.send(
                    reply_to,
                    PresenceSnapshot(
                        node_id=self.node_id,
                        incarnation=self.incarnation,
                        seq=self._seq,
                        sessions=part,
                        part=i,
                        last=i == len(parts) - 1,
                        peers=peers,
                        recovers=self._recovers,
                    ),
                )
        except EventwireError as exc:
            self._failed("presence.snapshot", exc)
            return
        self._failing.pop("presence.snapshot", None)


def _session_bytes(session: PresentSession) -> int:
    """An upper bound of a session's packed size (msgpack: each string and its header)."""
    strings = (session.session_id, session.user_id, *session.models)
    return 64 + sum(len(s.encode()) + 5 for s in strings)


class EdgePresence:
    """The edge's presence: a replica of every node's sessions, and the announcer of its own."""

    def __init__(self, bus: Bus, settings: EdgeSettings, node_id: str) -> None:
        self._bus = bus
        self.replica = BusPresence(bus, settings, f"node-{node_id}")
        self.announcer = Announcer(bus, self.replica.view, node_id, settings)
        self.replica.on_sync(self.announcer.on_sync)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.replica.start()
        self._task = asyncio.create_task(self.announcer.run(), name="presence-announce")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._bus.connected:
            await self.announcer.say_goodbye()
        await self.replica.close()

    def stats(self) -> dict[str, int]:
        return {
            **self.replica.stats(),
            "presence_announced": self.announcer.published,
            "presence_announce_failures": self.announcer.failed,
        }
