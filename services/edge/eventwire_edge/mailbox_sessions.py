"""Sessions fed by their mailboxes: recovery's side of the edge node (``recovery.py``).

The node hands each session here when recovery is on. A session's letters arrive in mailbox
order: events are written to its socket with their offset and acknowledged when the client's
pong confirms them; calls are asked and acknowledged once answered. The CONNECT hooks of the
socket server (``socketserver.ConnectHooks``) land here too: a reconnecting tab's mailbox is
claimed before its CONNECT is answered and replayed right after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from eventwire import errors
from eventwire.auth import Identity
from eventwire.mailbox import Letter, Mailbox, Mailboxes
from eventwire.protocol import CallCancel, CallRequest, Emit
from eventwire.topology import session_key, user_key

from .outgoing import SendQueue
from .recovery import PING_EVERY, Claim, Recovery, Tracker

if TYPE_CHECKING:
    from .node import EdgeNode

log = logging.getLogger(__name__)

TAKEOVER_WAIT = 5.0  # seconds a reconnecting tab waits for another edge to let its mailbox go
PING_AFTER = 1.0  # seconds after an event that no ping has covered yet, it gets one (a ping and
# its pong cost about what an event does: at a few events a second per tab, one per second).
# Each session's ping is due PING_AFTER after its own first uncovered event, so pings go out
# spread as the events came, never all sessions' at once (a burst of pongs is a latency spike)
PING_SLICE = 0.02  # pings due this close together go out in one wake-up


class MailboxSessions:
    def __init__(self, node: EdgeNode, mailboxes: Mailboxes) -> None:
        self._node = node
        self.recovery = Recovery(node.settings.secret, mailboxes, TAKEOVER_WAIT)
        self.stats = self.recovery.stats
        self._boxes: dict[str, Mailbox] = {}
        self._trackers: dict[str, Tracker] = {}
        self._replay: dict[str, Claim] = {}  # claimed, opened, CONNECT not yet answered
        # Sessions with events written after their last ping, and when the first of them was
        # (in that order: a dict keeps it).
        self._uncovered: dict[str, float] = {}
        self._pinger: asyncio.Task[None] | None = None
        self._max_unconfirmed = node.settings.recovery_max_events

    # -- socketserver.ConnectHooks ----------------------------------------------------------

    async def claim(self, auth: dict[str, Any]) -> str | None:
        node = self._node
        if node.draining:
            return None
        try:
            claim = await self.recovery.claim(auth, self._is_here, self._drop_here)
        except errors.EventwireError as exc:
            log.warning("a tab could not be recovered: %s", exc)
            return None
        return claim.sid if claim is not None else None

    def _is_here(self, sid: str) -> bool:
        return sid in self._boxes

    async def _drop_here(self, sid: str) -> None:
        from .drain import drop_transport  # drain.py imports the node, which imports this

        await drop_transport(self._node.sio, sid)

    def verified(self, sid: str, token: object) -> Identity | None:
        return self.recovery.verified(sid, token)

    def pid(self, sid: str) -> str | None:
        identity = self._node.identity(sid)
        return self.recovery.pid(sid, identity.id) if identity is not None else None

    async def abandon(self, sid: str) -> None:
        await self.recovery.abandon(sid)
        self._replay.pop(sid, None)
        self._trackers.pop(sid, None)
        mailbox = self._boxes.pop(sid, None)
        if mailbox is not None:
            await mailbox.release()

    async def connected(self, sid: str) -> None:
        mailbox = self._boxes.get(sid)
        if mailbox is None:
            return  # gone again already
        self._watch(sid)
        claim = self._replay.pop(sid, None)
        if claim is not None:
            read, again = self.recovery.replay(claim)
            for letter in read:
                mailbox.ack(letter)
            self.stats.letters_skipped += len(read)
            self.stats.sessions_recovered += 1
            log.info(
                "session %s recovered: %d events replayed after offset %s",
                sid,
                sum(1 for x in again if isinstance(x.message, Emit)),
                claim.offset,
            )
            for letter in again:
                if isinstance(letter.message, Emit):
                    self.stats.letters_replayed += 1
                elif isinstance(letter.message, CallRequest):
                    self.stats.calls_asked_again += 1
                await self._handle(sid, mailbox, letter)
        mailbox.start(
            lambda letter: self._handle(sid, mailbox, letter),
            lambda letter: self._handle_now(sid, mailbox, letter),
        )

    # -- sessions (the node's open_session / close_session) ------------------------------------

    async def open(self, sid: str, identity: Identity) -> None:
        claim = self.recovery.take(sid)
        if claim is not None:
            if claim.identity.id != identity.id:  # read_pid and claim checked it: never expected
                await claim.mailbox.release()
                raise errors.PermissionDenied("this session belongs to another user")
            self._boxes[sid] = claim.mailbox
            self._replay[sid] = claim
        else:
            keys = (session_key(sid), user_key(identity.id))
            self._boxes[sid] = await self.recovery.mailboxes.open(sid, keys)
        self._trackers[sid] = Tracker()

    async def close_session(self, sid: str, *, closed: bool) -> None:
        self._trackers.pop(sid, None)
        self._replay.pop(sid, None)
        mailbox = self._boxes.pop(sid, None)
        if mailbox is None:
            return
        if closed:
            self.stats.mailboxes_discarded += 1
            await mailbox.discard()
        else:
            self.stats.mailboxes_released += 1
            await mailbox.release()

    async def close(self) -> None:
        """The node stops or drains: every mailbox goes back to the broker, at once, for its
        tab to resume elsewhere (``AmqpMailboxes.close``). Once only: later calls, and the
        sessions closing after it, find nothing to give back."""
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        boxes, self._boxes = self._boxes, {}
        self._trackers.clear()
        self._replay.clear()
        self.stats.mailboxes_released += len(boxes)
        await self.recovery.mailboxes.close()

    # -- pings and pongs: what the client confirmed ---------------------------------------

    def _queue(self, sid: str) -> SendQueue | None:
        queue = getattr(self._node.writer.socket(sid), "queue", None)
        return queue if isinstance(queue, SendQueue) else None

    def _watch(self, sid: str) -> None:
        queue, tracker = self._queue(sid), self._trackers.get(sid)
        if queue is None or tracker is None:
            return
        queue.on_ping = tracker.pinged
        queue.on_pong = lambda: self._confirmed(sid)

    def _confirmed(self, sid: str) -> None:
        tracker, mailbox = self._trackers.get(sid), self._boxes.get(sid)
        if tracker is None or mailbox is None:
            return
        for letter in tracker.ponged():
            mailbox.ack(letter)

    def _ping(self, sid: str) -> None:
        if self._node.writer.send_ping(sid):
            self.stats.recovery_pings += 1

    # -- letters ------------------------------------------------------------------------

    def _handle_now(self, sid: str, mailbox: Mailbox, letter: Letter) -> bool:
        """Events as they arrive (nothing to await); anything else waits for ``_handle``."""
        if not isinstance(letter.message, Emit):
            return False
        self._handle_event(sid, mailbox, letter, letter.message)
        return True

    def _handle_event(self, sid: str, mailbox: Mailbox, letter: Letter, emit: Emit) -> None:
        node = self._node
        tracker = self._trackers.get(sid)
        if tracker is None or mailbox.closed:
            return  # the session went: the mailbox gives it back
        node.stats.bus_messages += 1
        node.messages_in[emit.kind] += 1
        if letter.redelivered and tracker.redelivered(letter):
            return  # the socket has it already (a broker reconnect gave it out again)
        self._deliver(sid, mailbox, tracker, letter, emit)

    async def _handle(self, sid: str, mailbox: Mailbox, letter: Letter) -> None:
        node = self._node
        message = letter.message
        if isinstance(message, Emit):
            self._handle_event(sid, mailbox, letter, message)
            return
        tracker = self._trackers.get(sid)
        if tracker is None or mailbox.closed:
            return  # the session went: the mailbox gives it back
        node.stats.bus_messages += 1
        node.messages_in[message.kind if message is not None else "undecodable"] += 1
        if isinstance(message, CallRequest):
            if node.draining:
                return  # left unanswered: asked again where the tab reconnects
            asking = node.calls.task(sid, message.id)
            if asking is not None:  # given out again (a broker reconnect): still being asked
                asking.add_done_callback(lambda _: mailbox.ack(letter))
                return
            await node.calls.serve(letter.key, message, lambda: mailbox.ack(letter))
        elif isinstance(message, CallCancel):
            await node.calls.cancel(letter.key, message)
            mailbox.ack(letter)
        else:
            mailbox.ack(letter)
            if message is not None:
                log.warning("session %s mailbox got a %s message; dropped", sid, message.kind)

    def _deliver(
        self, sid: str, mailbox: Mailbox, tracker: Tracker, letter: Letter, emit: Emit
    ) -> None:
        node = self._node
        identity = node.identity(sid)
        if identity is None or identity.id != emit.user_id:
            node.stats.emits_refused += 1
            mailbox.ack(letter)
            return
        # The offset last: socket.io-client keeps it, python-socketio clients get it as an
        # extra argument (eventwire_edge.recovering strips it).
        if not node.emit_to(emit.event, (emit.payload, letter.id), sid):
            mailbox.ack(letter)  # not JSON: counted, never to be written
            return
        node.delivered(emit)
        tracker.wrote(letter)
        if len(tracker.unconfirmed) >= self._max_unconfirmed:
            # It reads nothing: what it has not confirmed stays in its mailbox, bounded.
            self.stats.slow_sessions_dropped += 1
            log.warning("session %s confirms nothing: dropped (it may recover)", sid)
            self._uncovered.pop(sid, None)
            node.spawn(self._drop_here(sid), name=f"drop-slow:{sid}")
        elif tracker.since_ping >= PING_EVERY:
            self._ping(sid)
        elif sid not in self._uncovered:
            self._uncovered[sid] = time.monotonic()
            if self._pinger is None or self._pinger.done():
                self._pinger = asyncio.create_task(self._ping_later(), name="recovery-pings")

    async def _ping_later(self) -> None:
        """Ping, a moment after they were written, sessions whose last events no ping covers:
        one ping for a burst, not one per event; each when its own moment comes."""
        uncovered = self._uncovered
        while uncovered:
            sid, since = next(iter(uncovered.items()))
            wait = since + PING_AFTER - time.monotonic()
            if wait > PING_SLICE:
                await asyncio.sleep(wait)
                continue
            del uncovered[sid]
            tracker = self._trackers.get(sid)
            if tracker is None or tracker.since_ping <= 0:
                continue
            if tracker.marks:  # a ping is out: after its pong, look again
                uncovered[sid] = time.monotonic()
                continue
            self._ping(sid)

    @property
    def mailbox_count(self) -> int:
        return len(self._boxes)

    def describe(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "mailboxes": len(self._boxes),
            # AMQP: round trips that attached mailboxes (many connecting tabs share one)
            "mailbox_commits": getattr(self.recovery.mailboxes, "commits", None),
            # AMQP: resumed mailboxes attached without binding them again (lease renewed)
            "rebinds_skipped": getattr(self.recovery.mailboxes, "rebinds_skipped", None),
            "letters": self.recovery.mailboxes.delivered(),
            "sessions_recovered": stats.sessions_recovered,
            "sessions_not_recovered": stats.sessions_not_recovered,
            "not_recovered": dict(stats.not_recovered),
            "letters_replayed": stats.letters_replayed,
            "letters_skipped": stats.letters_skipped,
            "calls_asked_again": stats.calls_asked_again,
            "recovery_pings": stats.recovery_pings,
            "slow_sessions_dropped": stats.slow_sessions_dropped,
            "mailboxes_discarded": stats.mailboxes_discarded,
            "mailboxes_released": stats.mailboxes_released,
            "unconfirmed_events": sum(len(t.unconfirmed) for t in self._trackers.values()),
        }
