"""Open WebUI's client-originated socket events on an edge node, cluster-wide.

``user-join``, ``join-channels``, ``events:channel`` (and the older ``channel-events``),
``user-list``, ``usage`` and ``heartbeat``, with Open WebUI's names and payloads. Channel events
go through the broker to ``channel.<id>``, which a node binds while one of its sockets is a
member, so they reach members on every node. ``user-list`` and ``usage`` answer from the
presence replica. Every event passes the same gate first: the connection's identity, a token
bucket, a packet size limit; whatever is refused gets an ``error`` event and is counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import jwt

from eventwire import errors
from eventwire.auth import ALGORITHM, Identity, verify_token
from eventwire.codec import packed_size
from eventwire.presence_bus import Announcer, BusPresence
from eventwire.protocol import ChannelEmit, Message
from eventwire.topology import channel_key

from .authorizer import ChannelAuthorizer, load_authorizer
from .bindings import Bindings
from .packets import ChannelEvent, JoinChannels, Usage, UserJoin, parse
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .node import EdgeNode

log = logging.getLogger(__name__)

Handler = Callable[[str, "_Member", Any], Awaitable[Any]]


@dataclass
class SurfaceStats:
    channel_events_sent: int = 0  # accepted from this node's clients and published
    channel_events_delivered: int = 0  # channel messages this node handed to its members
    client_events_limited: int = 0  # refused: over the connection's rate
    client_packets_too_large: int = 0
    client_requests_denied: int = 0  # refused: identity, membership or malformed payload
    heartbeats: int = 0


@dataclass
class _Member:
    identity: Identity
    claims: Mapping[str, Any]
    bucket: TokenBucket
    channels: set[str] = field(default_factory=set)
    limited: bool = False  # inside a run of rate-limited events (one error event per run)


class Surface:
    """The socket surface beyond plugin events, for one edge node."""

    def __init__(self, node: EdgeNode, authorizer: ChannelAuthorizer | None = None) -> None:
        self._node = node
        self._settings = settings = node.settings
        self.presence = BusPresence(
            node.bus, settings, f"node-{node.node_id}", node_id=node.node_id
        )
        announcer = self.presence.announcer
        if announcer is None:  # a BusPresence given a node id always announces
            raise errors.ConfigurationError("edge presence needs an announcer")
        self._announcer: Announcer = announcer
        self.authorizer = authorizer or load_authorizer(settings.channel_authorizer)
        self.stats = SurfaceStats()
        self._members: dict[str, _Member] = {}
        self._bindings: Bindings | None = None
        handlers: dict[str, Handler] = {
            "user-join": self._user_join,
            "join-channels": self._join_channels,
            "events:channel": self._channel_event("events:channel"),
            "channel-events": self._channel_event("channel-events"),
            "user-list": self._user_list,
            "usage": self._usage,
            "heartbeat": self._heartbeat,
        }
        for event, handler in handlers.items():
            node.sio.on(event, self._gate(handler))
        node.sio.on("*", self._gate_unknown)

    async def start(self, bindings: Bindings) -> None:
        self._bindings = bindings
        await self.presence.start()

    async def stop(self) -> None:
        await self.presence.close()

    def describe(self) -> dict[str, Any]:
        return {**asdict(self.stats), **self.presence.stats()}

    # -- connection lifecycle (called by the node) -----------------------------------------

    def connected(self, sid: str, identity: Identity, token: str) -> None:
        now = asyncio.get_running_loop().time()
        bucket = TokenBucket(
            self._settings.client_event_rate, self._settings.client_event_burst, now
        )
        self._members[sid] = _Member(identity, self._claims(token), bucket)
        self._announcer.join(sid, identity.id)

    async def disconnected(self, sid: str) -> None:
        member = self._members.pop(sid, None)
        self._announcer.leave(sid)
        if member is not None and member.channels and self._bindings is not None:
            await self._bindings.release(*(channel_key(c) for c in member.channels))

    async def on_bus_message(self, key: str, message: Message) -> None:
        if not isinstance(message, ChannelEmit):
            log.warning("edge queue got a %s message; dropped", message.kind)
            return
        if key != channel_key(message.channel_id):
            log.warning("channel message for %s arrived on %s; dropped", message.channel_id, key)
            return
        await self._node.sio.emit(message.event, message.payload, to=key)
        self.stats.channel_events_delivered += 1

    # -- the gate every client event passes ------------------------------------------------

    def _gate(self, handler: Handler) -> Callable[..., Awaitable[Any]]:
        async def gated(sid: str, *args: Any) -> Any:
            member = await self._admit(sid, args)
            if member is None:
                return None
            try:
                return await handler(sid, member, args[0] if args else None)
            except errors.EventwireError as exc:
                self.stats.client_requests_denied += 1
                await self._node.send_error(sid, exc.code, exc.message)
                return None

        return gated

    async def _gate_unknown(self, event: str, sid: str, *args: Any) -> None:
        if await self._admit(sid, args) is not None:
            await self._node._on_unknown(event, sid, *args)

    async def _admit(self, sid: str, args: tuple[Any, ...]) -> _Member | None:
        """The connection's member record, or None after refusing the event (and saying so)."""
        member = self._members.get(sid)
        if member is None:
            self.stats.client_requests_denied += 1
            await self._node.send_error(sid, "forbidden", "this connection has no identity")
            return None
        if not member.bucket.take(asyncio.get_running_loop().time()):
            self.stats.client_events_limited += 1
            if not member.limited:  # one error per run: answering each would feed the flood
                member.limited = True
                error = errors.RateLimited(
                    f"over {self._settings.client_event_rate:g} events/s "
                    f"(burst {self._settings.client_event_burst}); events are dropped"
                )
                await self._node.send_error(sid, error.code, error.message)
            return None
        member.limited = False
        limit = self._settings.max_client_packet_bytes
        try:
            size = packed_size(list(args))
        except errors.ProtocolError:
            size = limit + 1
        if size > limit:
            self.stats.client_packets_too_large += 1
            too_large = errors.PayloadTooLarge(
                f"packet is {size} bytes, over the {limit}-byte limit"
            )
            await self._node.send_error(sid, too_large.code, too_large.message)
            return None
        return member

    # -- handlers --------------------------------------------------------------------------

    async def _user_join(self, sid: str, member: _Member, data: Any) -> dict[str, Any]:
        packet = parse(UserJoin, data)
        self._reauthenticate(member, packet.auth.token)
        await self._enter(
            sid, member, await self.authorizer.channels(member.identity, member.claims)
        )
        return {"id": member.identity.id, "name": member.identity.name}

    async def _join_channels(self, sid: str, member: _Member, data: Any) -> dict[str, Any]:
        packet = parse(JoinChannels, {} if data is None else data)
        if packet.auth is not None:
            self._reauthenticate(member, packet.auth.token)
        who, claims = member.identity, member.claims
        denied: list[str] = []
        if packet.channel_ids is None:
            wanted = list(await self.authorizer.channels(who, claims))
        else:
            wanted = []
            for channel in packet.channel_ids:
                allowed = await self.authorizer.may_join(who, claims, channel)
                (wanted if allowed else denied).append(channel)
        await self._enter(sid, member, wanted)
        if denied:
            self.stats.client_requests_denied += 1
            error = errors.PermissionDenied(
                f"user {who.id} may not join channel(s) {', '.join(denied)}"
            )
            await self._node.send_error(sid, error.code, error.message)
        return {"channel_ids": sorted(member.channels)}

    def _channel_event(self, event: str) -> Handler:
        async def channel_event(sid: str, member: _Member, data: Any) -> None:
            packet = parse(ChannelEvent, data)
            if packet.channel_id not in member.channels:
                raise errors.PermissionDenied(
                    f"not a member of channel {packet.channel_id!r}: join it first"
                )
            who = member.identity
            payload = {
                "channel_id": packet.channel_id,
                "message_id": packet.message_id,
                "data": data["data"],
                "user": {"id": who.id, "name": who.name, "role": who.role},
            }
            await self._node.bus.publish(
                channel_key(packet.channel_id),
                ChannelEmit(channel_id=packet.channel_id, payload=payload, event=event),
            )
            self.stats.channel_events_sent += 1

        return channel_event

    async def _user_list(self, sid: str, _member: _Member, _data: Any) -> dict[str, Any]:
        answer = {"user_ids": self.presence.view.user_ids()}
        await self._node.sio.emit("user-list", answer, to=sid)
        return answer

    async def _usage(self, sid: str, _member: _Member, data: Any) -> dict[str, Any]:
        packet = parse(Usage, data)
        self._announcer.use_model(sid, packet.model, asyncio.get_running_loop().time())
        answer = {"models": self.presence.view.models_in_use()}
        await self._node.sio.emit("usage", answer, to=sid)
        return answer

    async def _heartbeat(self, _sid: str, _member: _Member, _data: Any) -> None:
        # Open WebUI stamps the user's last-active time in its database; an edge has none.
        # Liveness needs no client heartbeat: Socket.IO pings the socket, nodes beat presence.
        self.stats.heartbeats += 1

    # -- helpers ---------------------------------------------------------------------------

    def _claims(self, token: str) -> Mapping[str, Any]:
        """The claims of a token ``verify_token`` accepted (authorizers may read any)."""
        claims: dict[str, Any] = jwt.decode(
            token, self._settings.secret, algorithms=[ALGORITHM], options={"verify_exp": False}
        )
        return claims

    def _reauthenticate(self, member: _Member, token: str) -> None:
        """A token sent with a request must be valid and name the connection's own user."""
        identity = verify_token(token, self._settings.secret)
        if identity.id != member.identity.id:
            raise errors.PermissionDenied("the token names another user than this connection")
        member.identity, member.claims = identity, self._claims(token)

    async def _enter(self, sid: str, member: _Member, channels: Iterable[str]) -> None:
        new = [c for c in dict.fromkeys(channels) if c not in member.channels]
        try:
            keys = [channel_key(c) for c in new]
        except ValueError as exc:
            raise errors.EventValidationError(f"channel id: {exc}") from None
        if not keys or self._bindings is None:
            return
        # Counted before the first await, so a disconnect meanwhile releases exactly these.
        member.channels.update(new)
        await self._bindings.acquire(*keys)
        if self._members.get(sid) is not member:
            return  # disconnected while binding
        for key in keys:
            await self._node.sio.enter_room(sid, key)
