"""Handing a draining node's users to the nodes their sockets reconnect to, losing no event.

The draining node (``Parking``) stops delivering to its sockets at one instant and keeps every
event routed to it for their users, bindings untouched (until it exits), while the sockets
reconnect elsewhere. The node a socket lands on (``Holds``) sees in presence that the user
still has sessions on a draining node: it holds the new session's events, binds the user's
key, then asks the draining node for what it kept. That node sends itself a marker through its
own queue — when it comes back, every event routed to it before the new node's binding has
arrived — and answers with everything it kept so far. The new node merges the two streams (an
event routed to both while both were bound counts once: same ``Emit.at`` and payload), sorts
them by ``Emit.at`` (per publisher, the order it published in), delivers them, and stops
holding. Each socket of a user that reconnects asks on its own, so a second tab landing later
gets everything too. A node that never answers costs only the wait: the held events go out
after ``HANDOFF_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from eventwire import errors
from eventwire.bus import Bus
from eventwire.codec import packed_size
from eventwire.protocol import Emit, Handoff, HandoffAsk
from eventwire.tasks import TaskSet

log = logging.getLogger(__name__)

HANDOFF_TIMEOUT = 5.0  # seconds a new session's events wait for a draining node's answer
PART_BYTES = 256 * 1024  # a handoff is sent in parts of about this size (far below the limit)

Deliver = Callable[[str, Emit], Awaitable[None]]
"""Send one event to one session (sid, emit)."""


@dataclass
class HandoffStats:
    parked_emits: int = 0  # kept by this draining node for users whose sockets it sent away
    handoffs_sent: int = 0
    handoffs_received: int = 0
    handoff_duplicates: int = 0  # routed to both nodes while both were bound: delivered once
    handoffs_late: int = 0  # arrived after the new session stopped waiting (timed out)
    holds_timed_out: int = 0


@dataclass
class _Parked:
    sockets: int  # how many of the user's sockets this node sent away (asks to expect)
    emits: list[Emit] = field(default_factory=list)
    asked: int = 0


class Parking:
    """The draining node's side: keep what arrives for users whose sockets were sent away."""

    def __init__(self, node_id: str, bus: Bus, queue: str, stats: HandoffStats) -> None:
        self.node_id = node_id
        self.active = False
        self._bus = bus
        self._queue = queue
        self._stats = stats
        self._users: dict[str, _Parked] = {}
        self._marks: dict[str, asyncio.Future[None]] = {}
        self._tasks = TaskSet("handoff")
        self._settled = asyncio.Event()

    def park(self, sockets_by_user: Mapping[str, int]) -> None:
        """From now on keep the events of these users (their sockets are told to leave)."""
        self.active = True
        for user_id, sockets in sockets_by_user.items():
            self.add_socket(user_id, sockets)
        self._check_settled()

    def add_socket(self, user_id: str, n: int = 1) -> None:
        parked = self._users.setdefault(user_id, _Parked(sockets=0))
        parked.sockets += n
        self._settled.clear()

    def keep(self, emit: Emit) -> bool:
        parked = self._users.get(emit.user_id)
        if parked is None:
            return False
        parked.emits.append(emit)
        self._stats.parked_emits += 1
        return True

    async def settled(self) -> None:
        """Until every socket sent away has been asked for (it reconnected somewhere)."""
        await self._settled.wait()

    def ask(self, ask: HandoffAsk) -> None:
        self._tasks.spawn(self._answer(ask), name=f"handoff:{ask.session_id}")

    def marked(self, session_id: str) -> None:
        """Our marker for the ask of ``session_id`` came back through our own queue."""
        mark = self._marks.pop(session_id, None)
        if mark is not None and not mark.done():
            mark.set_result(None)

    async def close(self) -> None:
        await self._tasks.close()

    async def _answer(self, ask: HandoffAsk) -> None:
        parked = self._users.get(ask.user_id)
        emits: list[Emit] = []
        if parked is not None:
            # Without the marker (the broker is away, or too slow) it answers with what it has.
            with contextlib.suppress(TimeoutError, errors.EventwireError):
                async with asyncio.timeout(HANDOFF_TIMEOUT / 2):
                    await self._caught_up(ask)
            emits = list(parked.emits)
        try:
            parts = _parts(emits)
            for i, part in enumerate(parts):
                handoff = Handoff(
                    node_id=self.node_id,
                    user_id=ask.user_id,
                    session_id=ask.session_id,
                    emits=part,
                    last=i == len(parts) - 1,
                )
                await self._bus.send(ask.reply_to, handoff)
            self._stats.handoffs_sent += 1
        except errors.EventwireError as exc:
            log.warning(
                "handoff of user %s to session %s lost: %s",
                ask.user_id,
                ask.session_id,
                exc,
                extra={"user_id": ask.user_id, "session_id": ask.session_id},
            )
        if parked is not None:
            parked.asked += 1
        self._check_settled()

    async def _caught_up(self, ask: HandoffAsk) -> None:
        """Return once every event routed here before the ask was sent has arrived: the asker
        bound the user's key before asking, so later ones reach it directly."""
        mark: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks[ask.session_id] = mark
        marker = Handoff(node_id=self.node_id, user_id=ask.user_id, session_id=ask.session_id)
        try:
            await self._bus.send(self._queue, marker)
            await mark
        finally:
            self._marks.pop(ask.session_id, None)

    def _check_settled(self) -> None:
        if self.active and all(p.asked >= p.sockets for p in self._users.values()):
            self._settled.set()


def _parts(emits: list[Emit]) -> list[list[Emit]]:
    """Split a handoff by size (seconds of a fast stream can be megabytes); at least one."""
    parts: list[list[Emit]] = [[]]
    size = 0
    for emit in emits:
        if size >= PART_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(emit)
        size += packed_size(emit.payload) + 64
    return parts


@dataclass
class _Hold:
    user_id: str
    waiting: set[str]  # draining nodes yet to answer (their last part)
    got: list[Emit] = field(default_factory=list)  # kept for us by those nodes
    direct: list[Emit] = field(default_factory=list)  # routed here meanwhile
    timer: asyncio.TimerHandle | None = None
    releasing: bool = False


class Holds:
    """The receiving node's side: new sessions whose user still has sessions on a draining
    node wait for its handoff before they get events."""

    def __init__(self, bus: Bus, queue: str, deliver: Deliver, stats: HandoffStats) -> None:
        self._bus = bus
        self._queue = queue
        self._deliver = deliver
        self._stats = stats
        self.held: dict[str, _Hold] = {}
        self.by_user: dict[str, set[str]] = {}
        self._tasks = TaskSet("holds")

    def hold(self, sid: str, user_id: str, nodes: Iterable[str]) -> None:
        """Hold ``sid``'s events from now on (call before the session can receive any)."""
        hold = _Hold(user_id, waiting=set(nodes))
        self.held[sid] = hold
        self.by_user.setdefault(user_id, set()).add(sid)
        hold.timer = asyncio.get_running_loop().call_later(
            HANDOFF_TIMEOUT, lambda: self._tasks.spawn(self._timed_out(sid))
        )

    async def ask(self, sid: str, sources: Mapping[str, str]) -> None:
        """Ask each draining node (node -> its queue) for the user's events; call once the
        user's key is bound here, so nothing falls between the two nodes."""
        hold = self.held.get(sid)
        if hold is None:
            return
        for node_id, queue in sources.items():
            try:
                await self._bus.send(
                    queue, HandoffAsk(user_id=hold.user_id, session_id=sid, reply_to=self._queue)
                )
            except errors.EventwireError as exc:
                log.warning("handoff request to node %s not sent: %s", node_id, exc)
                hold.waiting.discard(node_id)
        if not hold.waiting:
            await self._release(sid)

    def keep(self, sid: str, emit: Emit) -> bool:
        hold = self.held.get(sid)
        if hold is None:
            return False
        hold.direct.append(emit)
        return True

    def keep_for_user(self, emit: Emit) -> list[str] | None:
        """Keep a user's event for its held sessions; returns them (to skip), or None."""
        held = self.by_user.get(emit.user_id)
        if not held:
            return None
        for sid in held:
            self.held[sid].direct.append(emit)
        return list(held)

    def drop(self, sid: str) -> None:
        """The held session disconnected: what it waited for has nowhere to go."""
        hold = self.held.pop(sid, None)
        if hold is not None:
            self._forget(sid, hold)

    async def receive(self, handoff: Handoff) -> None:
        hold = self.held.get(handoff.session_id)
        if hold is None or hold.releasing or hold.user_id != handoff.user_id:
            self._stats.handoffs_late += 1
            log.warning(
                "late handoff from node %s for session %s (%d events) dropped",
                handoff.node_id,
                handoff.session_id,
                len(handoff.emits),
            )
            return
        hold.got.extend(handoff.emits)
        if handoff.last:
            hold.waiting.discard(handoff.node_id)
            self._stats.handoffs_received += 1
        if not hold.waiting:
            await self._release(handoff.session_id)

    async def close(self) -> None:
        for hold in self.held.values():
            if hold.timer is not None:
                hold.timer.cancel()
        self.held.clear()
        self.by_user.clear()
        await self._tasks.close()

    async def _timed_out(self, sid: str) -> None:
        hold = self.held.get(sid)
        if hold is not None and not hold.releasing:
            self._stats.holds_timed_out += 1
            log.warning(
                "no handoff for session %s within %.0fs from %s; delivering what came here",
                sid,
                HANDOFF_TIMEOUT,
                ", ".join(sorted(hold.waiting)),
            )
            await self._release(sid)

    async def _release(self, sid: str) -> None:
        hold = self.held.get(sid)
        if hold is None or hold.releasing:
            return
        hold.releasing = True
        if hold.timer is not None:
            hold.timer.cancel()
        pending = self._merge(hold.got, hold.direct)
        hold.got, hold.direct = [], []
        # Events routed here while we deliver queue up behind (they are newer): keep holding
        # until none is left, so the session never sees a newer event before an older one.
        while pending:
            for emit in pending:
                await self._deliver(sid, emit)
            pending, hold.direct = hold.direct, []
        if self.held.get(sid) is hold:
            del self.held[sid]
            self._forget(sid, hold)

    def _merge(self, got: list[Emit], direct: list[Emit]) -> list[Emit]:
        seen: dict[float, list[Emit]] = {}
        merged: list[Emit] = []
        for emit in (*got, *direct):
            if emit.at is not None:
                same = seen.setdefault(emit.at, [])
                if any(e.payload == emit.payload and e.event == emit.event for e in same):
                    self._stats.handoff_duplicates += 1
                    continue
                same.append(emit)
            merged.append(emit)
        merged.sort(key=lambda e: -math.inf if e.at is None else e.at)  # stable
        return merged

    def _forget(self, sid: str, hold: _Hold) -> None:
        if hold.timer is not None:
            hold.timer.cancel()
        sids = self.by_user.get(hold.user_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.by_user[hold.user_id]
