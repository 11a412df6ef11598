"""Presence through the bus: the replica any process keeps of who is connected where.

Every replica consumes its own exclusive queue bound to ``presence`` on the events exchange, so
every announcement reaches every replica (and dies with its process). Edge nodes announce
their sessions (``eventwire_edge.announcer``): each change with the next ``seq``, a heartbeat
when quiet for ``presence_interval``, a goodbye on clean shutdown. A replica that sees a gap,
or a node it does not know, asks that node for a snapshot, which is sent straight to the
asker's queue (one publisher, one channel: it arrives in order with that node's changes). A
node silent for ``presence_ttl`` is dropped, and calls aimed at its sessions fail as
``SessionOffline``. The bus has a memory and a RabbitMQ backend, so this one class serves both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .bus import Bus, Inbox
from .dispatch import Dispatcher
from .errors import EventwireError, SessionOffline
from .presence import Replica
from .protocol import (
    PresenceBeat,
    PresenceChange,
    PresenceDraining,
    PresenceSnapshot,
    PresenceSync,
)
from .settings import Settings
from .topology import PRESENCE_KEY

log = logging.getLogger(__name__)

T = TypeVar("T")


class BusPresence:
    """A presence replica fed by the bus.

    Snapshot requests other replicas publish go to whoever registered with ``on_sync``: an
    edge node answers them for its own sessions (``eventwire_edge.announcer``).
    """

    def __init__(self, bus: Bus, settings: Settings, process_id: str) -> None:
        self._bus = bus
        self._settings = settings
        self._spec = bus.topology.presence_queue(process_id)
        self.view = Replica(
            ttl=settings.presence_ttl,
            resync_after=settings.presence_interval,
            # Until the dead node's queue (and its session bindings) has surely expired.
            lost_for=settings.node_queue_expires + settings.presence_ttl,
        )
        self._on_sync: Callable[[PresenceSync], None] | None = None
        self._dispatch = Dispatcher("presence queue")
        self._dispatch.on(PresenceSync, self._sync_requested)
        self._dispatch.on(PresenceChange, self._heard)
        self._dispatch.on(PresenceBeat, self._heard)
        self._dispatch.on(PresenceSnapshot, self._heard)
        self._dispatch.on(PresenceDraining, self._heard)
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
        self._inbox = await self._bus.open_inbox(self._spec, self._dispatch)
        await self._inbox.bind(PRESENCE_KEY)
        self._tasks.append(asyncio.create_task(self._sweep(), name="presence-sweep"))
        await self._ask(None)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
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

    def on_sync(self, callback: Callable[[PresenceSync], None]) -> None:
        self._on_sync = callback

    @property
    def queue_name(self) -> str:
        """Where snapshots for this replica are sent."""
        return self._spec.name

    def stats(self) -> dict[str, int]:
        view = self.view
        return {
            "presence_nodes": len(view.nodes()),
            "presence_sessions": len(view),
            "presence_users": len(view.user_ids()),
            "presence_models": len(view.models_in_use()),
            "presence_expired_nodes": view.expired_nodes,
            "presence_snapshots": view.snapshots,
        }

    # -- bus side --------------------------------------------------------------------------

    async def _sync_requested(self, _key: str, message: PresenceSync) -> None:
        if self._on_sync is not None and message.reply_to != self._spec.name:
            self._on_sync(message)

    async def _heard(
        self,
        _key: str,
        message: PresenceChange | PresenceBeat | PresenceSnapshot | PresenceDraining,
    ) -> None:
        if self.view.receive(message, asyncio.get_running_loop().time()):
            await self._ask(message.node_id)
        self._check_settled()

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
