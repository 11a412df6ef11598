"""Presence through the bus: a replica any process keeps, and an edge node's announcements.

Every replica consumes its own exclusive queue bound to ``presence`` on the events exchange, so
every announcement reaches every replica (and dies with its process). An edge node announces
each change of its sessions with the next ``seq``, a heartbeat when it has been quiet for
``presence_interval``, and a goodbye on clean shutdown. A replica that sees a gap, or a node it
does not know, asks that node for a snapshot, which is sent straight to the asker's queue (one
publisher, one channel: it arrives in order with that node's changes). A node silent for
``presence_ttl`` is dropped, and calls aimed at its sessions fail as ``SessionOffline``.

The bus already has a memory and a RabbitMQ implementation, so this one class serves both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from .bus import Bus, Inbox
from .errors import EventwireError, SessionOffline
from .presence import Replica, chunks
from .protocol import (
    Message,
    PresenceBeat,
    PresenceChange,
    PresenceSnapshot,
    PresenceSync,
    PresentSession,
)
from .settings import Settings
from .topology import PRESENCE_KEY

log = logging.getLogger(__name__)

T = TypeVar("T")
SNAPSHOT_PART = 500  # sessions per snapshot message: tens of kB, far below the payload limit


@dataclass(frozen=True, slots=True)
class _Change:
    session: PresentSession
    online: bool


@dataclass(frozen=True, slots=True)
class _SnapshotFor:
    reply_to: str


class Announcer:
    """An edge node's sessions, announced in order by one task; handlers never wait on it."""

    def __init__(self, bus: Bus, view: Replica, node_id: str, settings: Settings) -> None:
        self.node_id = node_id
        self.incarnation = uuid.uuid4().hex[:12]
        self._bus = bus
        self._view = view
        self._interval = settings.presence_interval
        self._usage_timeout = settings.usage_timeout
        self._sessions: dict[str, PresentSession] = {}
        self._usage: dict[str, dict[str, float]] = {}  # sid -> model -> last report
        self._out: asyncio.Queue[_Change | _SnapshotFor] = asyncio.Queue()
        self._seq = 0
        self._last_sent = -math.inf
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
        fresh = model not in usage
        usage[model] = now
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

    def snapshot_to(self, reply_to: str) -> None:
        self._out.put_nowait(_SnapshotFor(reply_to))

    def _set(self, session: PresentSession) -> None:
        self._sessions[session.session_id] = session
        self._view.put_local(self.node_id, session)
        self._out.put_nowait(_Change(session, online=True))

    # -- the one task that speaks for the node ---------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            quiet_for = self._interval - (loop.time() - self._last_sent)
            if quiet_for <= 0:
                await self._publish(self._beat())
                continue
            try:
                async with asyncio.timeout(quiet_for):
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
                    )
                )
            else:
                await self._send_snapshot(item.reply_to)

    async def say_goodbye(self) -> None:
        """Tell every replica this node is leaving (best effort: silence expires it anyway)."""
        await self._publish(self._beat(leaving=True))

    def _beat(self, *, leaving: bool = False) -> PresenceBeat:
        return PresenceBeat(
            node_id=self.node_id, incarnation=self.incarnation, seq=self._seq, leaving=leaving
        )

    async def _publish(self, message: PresenceChange | PresenceBeat) -> None:
        self._last_sent = asyncio.get_running_loop().time()
        try:
            await self._bus.publish(PRESENCE_KEY, message)
            self.published += 1
        except EventwireError as exc:
            # Lost changes show up as a seq gap at the next heartbeat: replicas then resync.
            self.failed += 1
            log.debug("presence %s of node %s not sent: %s", message.kind, self.node_id, exc)

    async def _send_snapshot(self, reply_to: str) -> None:
        parts = chunks(self._sessions.values(), SNAPSHOT_PART)
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
                    ),
                )
        except EventwireError as exc:
            self.failed += 1
            log.debug("presence snapshot for %s not sent: %s", reply_to, exc)


class BusPresence:
    """A presence replica fed by the bus; with ``node_id`` it also announces that node."""

    def __init__(
        self, bus: Bus, settings: Settings, process_id: str, *, node_id: str | None = None
    ) -> None:
        self._bus = bus
        self._settings = settings
        self._spec = bus.topology.presence_queue(process_id)
        self.view = Replica(
            ttl=settings.presence_ttl,
            resync_after=settings.presence_interval,
            # Until the dead node's queue (and its session bindings) has surely expired.
            lost_for=settings.node_queue_expires + settings.presence_ttl,
        )
        self.announcer = Announcer(bus, self.view, node_id, settings) if node_id else None
        self._inbox: Inbox | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._watchers: defaultdict[str, set[Callable[[], None]]] = defaultdict(set)
        self._settled = asyncio.Event()
        self._ready_by = 0.0
        self._blind = False  # our own broker connection dropped: we heard nobody meanwhile
        bus.on_connection_lost(self._on_connection_lost)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # A fresh replica waits at most this long for the snapshots of nodes it has not heard.
        self._ready_by = loop.time() + 1.5 * self._settings.presence_interval
        self._inbox = await self._bus.open_inbox(self._spec, self._on_message)
        await self._inbox.bind(PRESENCE_KEY)
        self._tasks.append(asyncio.create_task(self._sweep(), name="presence-sweep"))
        if self.announcer is not None:
            self._tasks.append(asyncio.create_task(self.announcer.run(), name="presence-announce"))
        await self._ask(None)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.announcer is not None and self._bus.connected:
            await self.announcer.say_goodbye()
        if self._inbox is not None:
            with contextlib.suppress(EventwireError):
                await self._inbox.unbind(PRESENCE_KEY)
            self._inbox = None

    async def ready(self) -> None:
        """Wait until every live node's state is known (bounded by 1.5 heartbeat intervals)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(self._ready_by):
                await self._settled.wait()

    async def watch(self, session_id: str, call: Coroutine[Any, Any, T]) -> T:
        """Await ``call`` (aimed at ``session_id``); fail it with ``SessionOffline`` as soon as
        the node holding that session is known to be dead, instead of waiting for a timeout."""
        if self.view.is_lost(session_id):
            call.close()
            raise SessionOffline(_lost(session_id))
        task = asyncio.current_task()
        if task is None:
            return await call
        fired = False

        def on_lost() -> None:
            nonlocal fired
            if not fired:
                fired = True
                task.cancel()

        self._watchers[session_id].add(on_lost)
        try:
            return await call
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise SessionOffline(_lost(session_id)) from None
            raise
        finally:
            watchers = self._watchers.get(session_id)
            if watchers is not None:
                watchers.discard(on_lost)
                if not watchers:
                    del self._watchers[session_id]

    def stats(self) -> dict[str, int]:
        view = self.view
        stats = {
            "presence_nodes": len(view.nodes()),
            "presence_sessions": len(view),
            "presence_users": len(view.user_ids()),
            "presence_models": len(view.models_in_use()),
            "presence_expired_nodes": view.expired_nodes,
            "presence_snapshots": view.snapshots,
        }
        if self.announcer is not None:
            stats["presence_announced"] = self.announcer.published
            stats["presence_announce_failures"] = self.announcer.failed
        return stats

    # -- bus side --------------------------------------------------------------------------

    async def _on_message(self, _key: str, message: Message) -> None:
        match message:
            case PresenceSync():
                mine = self.announcer is not None and message.node_id in (
                    None,
                    self.announcer.node_id,
                )
                if self.announcer is not None and mine and message.reply_to != self._spec.name:
                    self.announcer.snapshot_to(message.reply_to)
            case PresenceChange() | PresenceBeat() | PresenceSnapshot():
                now = asyncio.get_running_loop().time()
                if self.view.receive(message, now):
                    await self._ask(message.node_id)
                self._check_settled()
            case _:
                log.warning("presence queue got a %s message; dropped", message.kind)

    async def _ask(self, node_id: str | None) -> None:
        try:
            await self._bus.publish(
                PRESENCE_KEY, PresenceSync(reply_to=self._spec.name, node_id=node_id)
            )
        except EventwireError as exc:  # the next heartbeat asks again
            log.debug("presence sync request not sent: %s", exc)

    def _on_connection_lost(self) -> None:
        self._blind = True

    def _check_settled(self) -> None:
        view = self.view
        if self._settled.is_set() or not view.snapshots or view.pending_sync():
            return
        if view.peers_named <= set(view.nodes()):
            self._settled.set()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self._settings.presence_interval / 2
        last = loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            stalled = now - last > 2 * tick
            last = now
            if stalled:
                # This process was not running: let its queue drain before judging others.
                continue
            if not self._bus.connected:
                continue  # silence we cannot hear is not a node's death
            if self._blind:
                # Back on the broker: everyone gets a fresh TTL, and we ask for everything.
                self._blind = False
                self.view.heard_all(now)
                await self._ask(None)
            if self.announcer is not None:
                self.announcer.expire_usage(now)
            for session in self.view.expire(now):
                for on_lost in list(self._watchers.get(session.session_id, ())):
                    on_lost()


def _lost(session_id: str) -> str:
    return f"session {session_id} was held by an edge node that stopped answering"


async def watched(presence: BusPresence | None, session_id: str, call: Coroutine[Any, Any, T]) -> T:
    """``presence.watch`` when this process keeps a replica, else just the call."""
    if presence is None:
        return await call
    return await presence.watch(session_id, call)
