"""Connection state recovery: Socket.IO's ``pid`` / ``offset``, kept in session mailboxes.

With ``EVENTWIRE_RECOVERY_WINDOW`` > 0 each session's events come from its mailbox
(``eventwire.mailbox``), and the edge speaks socket.io's connection state recovery:

- the CONNECT answer carries ``pid``, a private id signed with ``WEBUI_SECRET_KEY`` naming the
  session and its user; every event packet ends with an ``offset`` (the letter's id), which
  socket.io-client >= 4.6 keeps as ``_lastOffset``;
- a letter leaves the mailbox once the client confirmed it: Engine.IO pongs come back in the
  order pings went out, so a pong means every packet queued before its ping was read. The
  edge sends a ping after each burst (at most every ``PING_EVERY`` events) for that;
- when the tab reconnects (to any edge) its CONNECT carries ``pid`` and ``offset``: the edge
  checks the signature and the token's user, waits until no edge consumes the mailbox, takes
  its backlog, answers CONNECT with the *same* sid and pid (``socket.recovered`` is true), then
  sends what the client had not read (events after ``offset``; every call not yet answered is
  asked again), then the live stream. A mailbox that is gone, or may have dropped letters, is
  not recovered: the CONNECT answer has a new sid and pid (``socket.recovered`` is false);
- a tab that closes (a websocket close frame, a Socket.IO DISCONNECT, or the server's own
  disconnect) has its mailbox deleted and its calls fail at once; a dropped transport (no
  close frame: network, a killed edge, a drain) keeps it for the window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventwire import errors
from eventwire.auth import Identity, verify_token
from eventwire.mailbox import Backlog, Letter, Mailbox, Mailboxes
from eventwire.topology import session_key, user_key

log = logging.getLogger(__name__)

PING_EVERY = 128  # events written between two pings at most (each pong acknowledges them)
MAX_PID_CHARS = 512
MAX_OFFSET_CHARS = 128
_SIGNATURE_BYTES = 16


def mint_pid(secret: str, sid: str, user_id: str) -> str:
    body = base64.urlsafe_b64encode(f"{sid}\n{user_id}".encode()).decode().rstrip("=")
    return f"{body}.{_sign(secret, body)}"


def read_pid(secret: str, pid: object) -> tuple[str, str] | None:
    """(sid, user id) of a pid this deployment minted; None for anything else."""
    if not isinstance(pid, str) or len(pid) > MAX_PID_CHARS or pid.count(".") != 1:
        return None
    body, signature = pid.split(".")
    if not hmac.compare_digest(signature, _sign(secret, body)):
        return None
    try:
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    sid, _, user_id = text.partition("\n")
    return (sid, user_id) if sid and user_id else None


def _sign(secret: str, body: str) -> str:
    digest = hmac.new(f"eventwire-pid:{secret}".encode(), body.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:_SIGNATURE_BYTES]).decode().rstrip("=")


@dataclass
class RecoveryStats:
    sessions_recovered: int = 0
    sessions_not_recovered: int = 0  # asked with a pid, got a new session (gone, dropped, ...)
    letters_replayed: int = 0  # events sent again after a reconnect (the client missed them)
    letters_skipped: int = 0  # events the client had read before it dropped (not sent again)
    calls_asked_again: int = 0
    recovery_pings: int = 0
    slow_sessions_dropped: int = 0  # wrote recovery_max_events unconfirmed: transport dropped
    mailboxes_discarded: int = 0  # closed tabs
    mailboxes_released: int = 0  # dropped transports: kept for the window
    not_recovered: dict[str, int] = field(default_factory=dict)  # why


@dataclass
class Claim:
    """A reconnecting tab's mailbox, taken before its CONNECT is answered."""

    sid: str
    # What the CONNECT's token was verified to, and the token: the gate, checking the same
    # CONNECT a moment later, takes the identity instead of decoding the JWT again.
    identity: Identity
    token: str
    offset: str | None
    mailbox: Mailbox
    backlog: Backlog


class Tracker:
    """One session's events written to its socket and not yet confirmed by the client."""

    def __init__(self) -> None:
        # Lists, not deques: an empty deque is 760 bytes, and most tabs have nothing in flight.
        self.unconfirmed: list[Letter] = []
        self.by_id: dict[str, Letter] = {}
        self.marks: list[int] = []  # `written` when each ping in flight was queued
        self.written = 0
        self.confirmed = 0

    def wrote(self, letter: Letter) -> None:
        letter.message = None  # kept for its id and tag only: the payload is the socket's now
        self.unconfirmed.append(letter)
        self.by_id[letter.id] = letter
        self.written += 1

    def pinged(self) -> None:
        self.marks.append(self.written)

    def ponged(self) -> list[Letter]:
        """The letters a pong confirms (FIFO: pongs answer pings in order)."""
        if not self.marks:
            return []
        upto = self.marks.pop(0)
        count = min(upto - self.confirmed, len(self.unconfirmed))
        if count <= 0:
            return []
        done = self.unconfirmed[:count]
        del self.unconfirmed[:count]
        for letter in done:
            self.by_id.pop(letter.id, None)
        self.confirmed += count
        return done

    @property
    def since_ping(self) -> int:
        return self.written - (self.marks[-1] if self.marks else self.confirmed)

    def redelivered(self, letter: Letter) -> bool:
        """A letter given out again (the broker connection came back) that the socket already
        got: it takes the old one's place, to be acknowledged with the new tag."""
        old = self.by_id.get(letter.id)
        if old is None:
            return False
        old.tag = letter.tag
        return True


class Recovery:
    """The edge's recovery state: claims being connected, trackers of live sessions."""

    def __init__(self, secret: str, mailboxes: Mailboxes, takeover_wait: float) -> None:
        self._secret = secret
        self.mailboxes = mailboxes
        self._takeover_wait = takeover_wait
        self.stats = RecoveryStats()
        self._claims: dict[str, Claim] = {}  # sid -> claim, until its session opens

    def pid(self, sid: str, user_id: str) -> str:
        return mint_pid(self._secret, sid, user_id)

    def _refuse(self, why: str) -> None:
        self.stats.sessions_not_recovered += 1
        self.stats.not_recovered[why] = self.stats.not_recovered.get(why, 0) + 1

    async def claim(
        self, auth: dict[str, Any], connected: Callable[[str], bool], drop: Callable[[str], Any]
    ) -> Claim | None:
        """Take the mailbox a CONNECT's ``pid`` names, if this tab may have it back.

        ``connected(sid)``: whether the sid is still on this edge (its old transport not yet
        noticed dead); ``drop(sid)`` (awaitable) ends that old connection first."""
        named = read_pid(self._secret, auth.get("pid"))
        if named is None:
            self._refuse("bad_pid")
            return None
        sid, user_id = named
        try:
            identity = verify_token(auth.get("token"), self._secret)
        except errors.EventwireError:
            return None  # the connect handler refuses it, and says why
        if identity.id != user_id:
            self._refuse("other_user")
            log.warning("a recovery pid of user %s came with a token of %s", user_id, identity.id)
            return None
        offset = auth.get("offset")
        if not (isinstance(offset, str) and 0 < len(offset) <= MAX_OFFSET_CHARS):
            offset = None
        if sid in self._claims:
            self._refuse("in_progress")
            return None
        if connected(sid):
            await drop(sid)
        found = await self.mailboxes.resume(
            sid, (session_key(sid), user_key(user_id)), self._takeover_wait
        )
        if found is None:
            self._refuse("gone")
            return None
        mailbox, backlog = found
        if backlog.maybe_dropped:
            self._refuse("overflowed")
            await mailbox.discard()
            return None
        claim = self._claims[sid] = Claim(sid, identity, auth["token"], offset, mailbox, backlog)
        return claim

    def verified(self, sid: str, token: object) -> Identity | None:
        """The identity ``claim`` verified ``token`` to for ``sid``'s CONNECT, if it did."""
        claim = self._claims.get(sid)
        if claim is None or not isinstance(token, str):
            return None
        return claim.identity if hmac.compare_digest(claim.token, token) else None

    def take(self, sid: str) -> Claim | None:
        return self._claims.pop(sid, None)

    async def abandon(self, sid: str) -> None:
        """A claimed tab was refused after all: its mailbox goes back, untouched."""
        claim = self._claims.pop(sid, None)
        if claim is not None:
            await claim.mailbox.release()

    @staticmethod
    def replay(claim: Claim) -> tuple[list[Letter], list[Letter]]:
        """(letters the client had read, letters to hand over again) of a claim's backlog.

        The client read every event up to its offset; calls carry no offset and are always
        handed over (their answer never arrived)."""
        letters = claim.backlog.letters
        seen = -1
        if claim.offset is not None:
            for index, letter in enumerate(letters):
                if letter.id == claim.offset:
                    seen = index
                    break
        read: list[Letter] = []
        again: list[Letter] = []
        for index, letter in enumerate(letters):
            is_event = letter.message is not None and letter.message.kind == "emit"
            (read if index <= seen and is_event else again).append(letter)
        return read, again
