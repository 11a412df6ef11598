"""Presence: which sessions, users and models are live across the cluster.

``Presence`` is the read side every process can hold (edge nodes answer ``user-list`` and
``usage`` from it; the SDK asks "is this user online"). ``Replica`` is its state: one entry per
edge node, fed by that node's announcements (``protocol.Presence*``), in the node's order
(``seq``). It is pure bookkeeping with an explicit clock, so its rules are unit-tested without a
bus; ``presence_bus`` feeds it from the bus and answers sync requests.

Rules a replica follows:
- a node's changes are assignments (this session is here with these models / is gone), so
  applying one twice, or after a snapshot that already holds it, changes nothing;
- a gap in a node's ``seq`` (a lost message, a replica that started late) asks that node for a
  snapshot, which replaces everything known about it;
- a node silent for longer than the TTL is dropped with all its sessions, and those sessions
  are remembered as *lost* for a while, so calls aimed at them fail at once;
- a node's own sessions (``own``) are applied locally and never expire;
- a node that says it is draining keeps its sessions (its sockets are reconnecting elsewhere)
  until it leaves; ``handoff_sources`` names the draining nodes a user still has sessions on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .protocol import (
    PresenceBeat,
    PresenceChange,
    PresenceDraining,
    PresenceSnapshot,
    PresentSession,
)

log = logging.getLogger(__name__)

Announcement = PresenceChange | PresenceBeat | PresenceSnapshot | PresenceDraining


class Presence(Protocol):
    """The cluster-wide view; answers are eventually consistent (see README)."""

    def user_ids(self) -> list[str]: ...

    def is_online(self, user_id: str) -> bool: ...

    def sessions_of(self, user_id: str) -> list[PresentSession]: ...

    def session(self, session_id: str) -> PresentSession | None: ...

    def models_in_use(self) -> list[str]: ...

    def is_lost(self, session_id: str) -> bool:
        """Whether the session was held by a node that went silent (it is not coming back)."""


@dataclass
class _Node:
    incarnation: str
    last_heard: float
    seq: int = 0
    local: bool = False
    out_of_sync: bool = False
    sync_asked_at: float | None = None
    sids: set[str] = field(default_factory=set)
    parts: list[PresentSession] | None = None  # a snapshot being assembled
    draining: str | None = None  # the queue a draining node takes handoff requests on
    recovers: bool = False  # its sessions outlive it (mailboxes): never marked lost


class Replica:
    """The presence of every node this process has heard from (and its own, if a node)."""

    def __init__(self, *, ttl: float, resync_after: float, lost_for: float) -> None:
        self.ttl = ttl
        self._resync_after = resync_after
        self._lost_for = lost_for
        self._nodes: dict[str, _Node] = {}
        self._sessions: dict[str, tuple[str, PresentSession]] = {}
        self._by_user: defaultdict[str, set[str]] = defaultdict(set)
        self._by_model: defaultdict[str, set[str]] = defaultdict(set)
        self._lost: dict[str, float] = {}  # session id -> forget it after (clock time)
        self.peers_named: set[str] = set()  # nodes other nodes' snapshots said are live
        self.snapshots = 0
        self.expired_nodes = 0

    # -- reads (the Presence protocol) --------------------------------------------------

    def user_ids(self) -> list[str]:
        return sorted(self._by_user)

    def is_online(self, user_id: str) -> bool:
        return user_id in self._by_user

    def sessions_of(self, user_id: str) -> list[PresentSession]:
        return [self._sessions[sid][1] for sid in sorted(self._by_user.get(user_id, ()))]

    def session(self, session_id: str) -> PresentSession | None:
        entry = self._sessions.get(session_id)
        return entry[1] if entry else None

    def models_in_use(self) -> list[str]:
        return sorted(self._by_model)

    def is_lost(self, session_id: str) -> bool:
        return session_id in self._lost

    def nodes(self) -> list[str]:
        return sorted(self._nodes)

    def node_of(self, session_id: str) -> str | None:
        entry = self._sessions.get(session_id)
        return entry[0] if entry else None

    def __len__(self) -> int:
        return len(self._sessions)

    def handoff_sources(self, user_id: str) -> dict[str, str]:
        """Draining nodes (other than this one) holding sessions of ``user_id``: node -> queue."""
        sources: dict[str, str] = {}
        for sid in self._by_user.get(user_id, ()):
            node_id = self._sessions[sid][0]
            node = self._nodes.get(node_id)
            if node is not None and node.draining is not None and not node.local:
                sources[node_id] = node.draining
        return sources

    def pending_sync(self) -> set[str]:
        return {n for n, node in self._nodes.items() if node.out_of_sync}

    # -- the local node's own sessions ----------------------------------------------------

    def own(self, node_id: str, incarnation: str) -> None:
        self._nodes[node_id] = _Node(incarnation, last_heard=0.0, local=True)

    def put_local(self, node_id: str, session: PresentSession) -> None:
        self._put(node_id, session)

    def remove_local(self, node_id: str, session_id: str) -> None:
        self._remove(node_id, session_id)

    # -- announcements from other nodes ---------------------------------------------------

    def receive(self, message: Announcement, now: float) -> bool:
        """Apply an announcement; True when its node should be asked for a snapshot now."""
        node = self._nodes.get(message.node_id)
        if node is not None and node.local:
            return False  # our own announcement, already applied
        if node is None or node.incarnation != message.incarnation:
            if node is not None:  # same id, new process: nothing of the old one survives
                self._drop(message.node_id, lost=False)
            node = self._nodes[message.node_id] = _Node(message.incarnation, last_heard=now)
        node.last_heard = now
        node.recovers = message.recovers
        match message:
            case PresenceChange():
                self._change(message.node_id, node, message)
            case PresenceBeat():
                if message.leaving:
                    self._drop(message.node_id, lost=False)
                    return False
                if message.seq != node.seq:
                    node.out_of_sync = True
            case PresenceSnapshot():
                self._snapshot(message.node_id, node, message)
            case PresenceDraining():  # a draining node's heartbeat
                node.draining = message.queue
                if message.seq != node.seq:
                    node.out_of_sync = True
        return self._wants_sync(node, now)

    def _change(self, node_id: str, node: _Node, message: PresenceChange) -> None:
        if message.seq <= node.seq:
            return  # already part of a snapshot we hold
        if message.seq != node.seq + 1:
            node.out_of_sync = True  # still apply it: changes are assignments
        node.seq = message.seq
        if message.online:
            self._put(node_id, message.session)
        else:
            self._remove(node_id, message.session.session_id)

    def _snapshot(self, node_id: str, node: _Node, message: PresenceSnapshot) -> None:
        if message.part == 0 or node.parts is None:
            node.parts = []
        node.parts.extend(message.sessions)
        if not message.last:
            return
        sessions, node.parts = node.parts, None
        for sid in list(node.sids):
            self._remove(node_id, sid)
        for session in sessions:
            self._put(node_id, session)
        node.seq = message.seq
        node.out_of_sync = False
        node.sync_asked_at = None
        self.peers_named.update(message.peers)
        self.snapshots += 1

    def _wants_sync(self, node: _Node, now: float) -> bool:
        if not node.out_of_sync:
            return False
        if node.sync_asked_at is not None and now - node.sync_asked_at < self._resync_after:
            return False
        node.sync_asked_at = now
        return True

    def expire(self, now: float) -> list[PresentSession]:
        """Drop nodes silent for longer than the TTL; return the sessions they held that are
        lost (not those of a node whose tabs recover elsewhere)."""
        for sid, until in list(self._lost.items()):
            if now >= until:
                del self._lost[sid]
        silent = [
            n
            for n, node in self._nodes.items()
            if not node.local and now - node.last_heard > self.ttl
        ]
        lost: list[PresentSession] = []
        for node_id in silent:
            log.warning("presence: node %s silent for over %.1fs; dropping it", node_id, self.ttl)
            recovers = self._nodes[node_id].recovers
            dropped = self._drop(node_id, lost=True, now=now)
            if not recovers:  # else its sessions may come back elsewhere: not lost
                lost.extend(dropped)
            self.expired_nodes += 1
        return lost

    def heard_all(self, now: float) -> None:
        """Count every node as just heard (after this process itself was cut off)."""
        for node in self._nodes.values():
            node.last_heard = max(node.last_heard, now)

    def _drop(self, node_id: str, *, lost: bool, now: float = 0.0) -> list[PresentSession]:
        node = self._nodes.pop(node_id, None)
        if node is None:
            return []
        sessions = [self._sessions[sid][1] for sid in node.sids]
        for session in sessions:
            self._remove(node_id, session.session_id, node)
            if lost and not node.recovers:
                self._lost[session.session_id] = now + self._lost_for
        self.peers_named.discard(node_id)
        return sessions

    # -- indexes ------------------------------------------------------------------------

    def _put(self, node_id: str, session: PresentSession) -> None:
        sid = session.session_id
        previous = self._sessions.get(sid)
        if previous is not None:
            self._remove(previous[0], sid)
        node = self._nodes.get(node_id)
        if node is None:
            return
        node.sids.add(sid)
        self._sessions[sid] = (node_id, session)
        self._by_user[session.user_id].add(sid)
        for model in session.models:
            self._by_model[model].add(sid)
        self._lost.pop(sid, None)

    def _remove(self, node_id: str, sid: str, node: _Node | None = None) -> None:
        entry = self._sessions.get(sid)
        if entry is None or entry[0] != node_id:
            return
        del self._sessions[sid]
        node = node or self._nodes.get(node_id)
        if node is not None:
            node.sids.discard(sid)
        session = entry[1]
        _discard(self._by_user, session.user_id, sid)
        for model in session.models:
            _discard(self._by_model, model, sid)


def _discard(index: defaultdict[str, set[str]], key: str, sid: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(sid)
        if not members:
            del index[key]


def chunks(sessions: Iterable[PresentSession], size: int) -> list[list[PresentSession]]:
    """Split a snapshot so each part stays far below the bus's payload limit."""
    items = list(sessions)
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]
