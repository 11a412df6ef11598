"""The one door every client packet passes: identity at connect, then rate and size per event.

A ``socketio.AsyncNamespace`` whose ``trigger_event`` sees every event of the namespace, so the
checks run once, in one place, before any handler: the connection's identity (verified at
connect), a token bucket per connection, a packet size limit. What is refused gets an ``error``
event naming the reason and is counted; nothing is dropped silently. Packets refused before
they are even events (malformed, or binary over the limit: ``socketserver``) come here too
(``refuse_packet``), charged to the same bucket. The gate talks to the node through
``SessionHost`` only, and hands accepted events to the handler registered for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import socketio

from eventwire import errors
from eventwire.auth import Identity, verify_token
from eventwire.codec import packed_size
from eventwire.topology import MAX_KEY_BYTES, USER_PREFIX

from .ratelimit import TokenBucket
from .settings import EdgeSettings

log = logging.getLogger(__name__)

ERROR_EVENT = "error"  # what a client receives when a request of its own is refused
# A user id names the routing key ``user.<id>``, an AMQP short string.
MAX_USER_ID_BYTES = MAX_KEY_BYTES - len(USER_PREFIX)


def check_user_id(identity: Identity) -> Identity:
    """Refuse an identity whose user id cannot be routed to (before anything is bound)."""
    size = len(identity.id.encode())
    if size > MAX_USER_ID_BYTES:
        raise errors.AuthenticationError(
            f"token claim 'id' is {size} bytes, over {MAX_USER_ID_BYTES} bytes "
            "(a user id names a broker routing key)"
        )
    return identity


@dataclass
class Member:
    """One connection the gate admitted."""

    identity: Identity
    bucket: TokenBucket
    channels: set[str] = field(default_factory=set)
    limited: bool = False  # inside a run of rate-limited events (one error event per run)
    malformed: bool = False  # inside a run of malformed packets (one error, one log line)


Handler = Callable[[str, Member, Any], Awaitable[Any]]
"""Handles one accepted client event: (sid, member, first argument) -> acknowledgement."""


class SessionHost(Protocol):
    """What the gate needs from the node behind it."""

    async def open_session(self, sid: str, member: Member) -> None:
        """Take a verified connection; raise an ``EventwireError`` to refuse it."""

    async def close_session(self, sid: str, member: Member, reason: str | None = None) -> None:
        """The socket is gone; ``reason`` is python-socketio's disconnect reason."""

    def verified(self, sid: str, token: object) -> Identity | None:
        """What this CONNECT's ``token`` was verified to already (a recovering tab's claim
        checks it before the CONNECT reaches the gate), or None: the gate verifies it."""


@dataclass
class GateStats:
    connects_refused: int = 0
    client_errors: int = 0  # unknown events
    client_events_limited: int = 0  # refused: over the connection's rate
    client_packets_too_large: int = 0
    client_packets_malformed: int = 0  # not Socket.IO as the edge accepts it (wire.py)
    client_requests_denied: int = 0  # refused: identity, membership or malformed payload


class Gate(socketio.AsyncNamespace):  # type: ignore[misc]  # python-socketio is untyped
    def __init__(self, settings: EdgeSettings, host: SessionHost, namespace: str = "/") -> None:
        super().__init__(namespace)
        self.settings = self._settings = settings
        self._host = host
        self._handlers: dict[str, Handler] = {}
        self._members: dict[str, Member] = {}
        self.stats = GateStats()

    def handle(self, handlers: Mapping[str, Handler]) -> None:
        """Serve these client events (every other event is answered ``unknown_event``)."""
        self._handlers.update(handlers)

    def member(self, sid: str) -> Member | None:
        return self._members.get(sid)

    async def send_error(self, sid: str, error: errors.EventwireError) -> None:
        await self.emit(ERROR_EVENT, {"code": error.code, "message": error.message}, to=sid)

    # -- python-socketio calls this for every event of the namespace ----------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            sid, _environ, auth = (*args, None)[:3]
            return await self._connect(sid, auth)
        if event == "disconnect":
            return await self._disconnect(args[0], args[1] if len(args) > 1 else None)
        sid, data = args[0], args[1:]
        member = await self._admit(sid, data)
        if member is None:
            return None
        handler = self._handlers.get(event)
        try:
            if handler is None:
                self.stats.client_errors += 1
                raise errors.UnknownEvent(f"unknown event {event!r}")
            return await handler(sid, member, data[0] if data else None)
        except errors.EventwireError as exc:
            if not isinstance(exc, errors.UnknownEvent):
                self.stats.client_requests_denied += 1
            await self.send_error(sid, exc)
            return None

    async def _connect(self, sid: str, auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            identity = self._host.verified(sid, token) or verify_token(token, self._settings.secret)
            identity = check_user_id(identity)
            now = asyncio.get_running_loop().time()
            bucket = TokenBucket(
                self._settings.client_event_rate, self._settings.client_event_burst, now
            )
            member = Member(identity, bucket)
            self._members[sid] = member
            try:
                await self._host.open_session(sid, member)
            except BaseException:
                self._members.pop(sid, None)
                raise
        except errors.EventwireError as exc:
            self.stats.connects_refused += 1
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code}
            ) from None

    async def _disconnect(self, sid: str, reason: Any) -> None:
        member = self._members.pop(sid, None)
        if member is not None:
            await self._host.close_session(sid, member, reason if isinstance(reason, str) else None)

    async def refuse_packet(self, sid: str | None, error: errors.EventwireError) -> None:
        """A packet refused before it became an event: counted, charged, answered once a run."""
        member = self._members.get(sid) if sid is not None else None
        too_large = isinstance(error, errors.PayloadTooLarge)
        if member is None or sid is None:  # not joined: the server closes the connection
            self._count_refused(too_large)
            log.warning("closed a connection that sent a bad packet before joining: %s", error)
            return
        if not await self._take(sid, member):
            return
        self._count_refused(too_large)
        if too_large:
            await self.send_error(sid, error)
            return
        if not member.malformed:  # one answer and one log line per run: a flood costs neither
            member.malformed = True
            log.warning(
                "session %s (user %s) sent a malformed packet: %s; further ones in this run are "
                "only counted",
                sid,
                member.identity.id,
                error,
            )
            await self.send_error(sid, error)

    def _count_refused(self, too_large: bool) -> None:
        if too_large:
            self.stats.client_packets_too_large += 1
        else:
            self.stats.client_packets_malformed += 1

    async def _take(self, sid: str, member: Member) -> bool:
        """Spend one of the connection's events; refuse (once per run) when it has none."""
        if not member.bucket.take(asyncio.get_running_loop().time()):
            self.stats.client_events_limited += 1
            if not member.limited:  # one error per run: answering each would feed the flood
                member.limited = True
                await self.send_error(
                    sid,
                    errors.RateLimited(
                        f"over {self._settings.client_event_rate:g} events/s "
                        f"(burst {self._settings.client_event_burst}); events are dropped"
                    ),
                )
            return False
        member.limited = False
        return True

    async def _admit(self, sid: str, args: tuple[Any, ...]) -> Member | None:
        """The connection's member record, or None after refusing the event (and saying so)."""
        member = self._members.get(sid)
        if member is None:
            self.stats.client_requests_denied += 1
            await self.send_error(sid, errors.PermissionDenied("this connection has no identity"))
            return None
        if not await self._take(sid, member):
            return None
        member.malformed = False
        limit = self._settings.max_client_packet_bytes
        try:
            size = packed_size(list(args))
        except errors.ProtocolError:
            size = limit + 1
        if size > limit:
            self.stats.client_packets_too_large += 1
            await self.send_error(
                sid, errors.PayloadTooLarge(f"packet is {size} bytes, over the {limit}-byte limit")
            )
            return None
        return member
