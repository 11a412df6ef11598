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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import socketio

from eventwire import errors
from eventwire.auth import verify_token
from eventwire.bus import Bus
from eventwire.protocol import ChannelEmit
from eventwire.topology import channel_key

from .announcer import EdgePresence
from .authorizer import ChannelAuthorizer
from .bindings import Bindings
from .gate import Gate, Handler
from .gate import Member as _Member
from .packets import ChannelEvent, JoinChannels, Usage, UserJoin, parse

log = logging.getLogger(__name__)


@dataclass
class SurfaceStats:
    channel_events_sent: int = 0  # accepted from this node's clients and published
    channel_events_delivered: int = 0  # channel messages this node handed to its members
    heartbeats: int = 0


class Surface:
    """The socket surface beyond plugin events, for one edge node (behind its gate)."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        bus: Bus,
        presence: EdgePresence,
        authorizer: ChannelAuthorizer,
        gate: Gate,
    ) -> None:
        self._sio = sio
        self._bus = bus
        self._presence = presence
        self._announcer = presence.announcer
        self._gate = gate
        settings = gate.settings
        self._secret = settings.secret
        self._max_channels = settings.max_channels_per_connection
        self._max_model_name = settings.max_model_name_length
        self._max_models_in_answer = settings.max_models_in_answer
        self.authorizer = authorizer
        self.stats = SurfaceStats()
        self._bindings: Bindings | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            "user-join": self._user_join,
            "join-channels": self._join_channels,
            "events:channel": self._channel_event("events:channel"),
            "channel-events": self._channel_event("channel-events"),
            "user-list": self._user_list,
            "usage": self._usage,
            "heartbeat": self._heartbeat,
        }

    def start(self, bindings: Bindings) -> None:
        self._bindings = bindings

    # -- handlers --------------------------------------------------------------------------

    async def _user_join(self, sid: str, member: _Member, data: Any) -> dict[str, Any]:
        packet = parse(UserJoin, data)
        await self._reauthenticate(sid, member, packet.auth.token)
        who = member.identity
        await self._enter(sid, member, sorted(await self.authorizer.channels(who, who.claims)))
        return {"id": member.identity.id, "name": member.identity.name}

    async def _join_channels(self, sid: str, member: _Member, data: Any) -> dict[str, Any]:
        packet = parse(JoinChannels, {} if data is None else data)
        if packet.auth is not None:
            await self._reauthenticate(sid, member, packet.auth.token)
        who = member.identity
        claims = who.claims
        denied: list[str] = []
        if packet.channel_ids is None:
            wanted = sorted(await self.authorizer.channels(who, claims))
        else:
            wanted = []
            # Asking the authorizer costs; never for more channels than the connection may hold.
            for channel in list(dict.fromkeys(packet.channel_ids))[: self._max_channels]:
                allowed = await self.authorizer.may_join(who, claims, channel)
                (wanted if allowed else denied).append(channel)
        await self._enter(sid, member, wanted)
        if denied:
            self._gate.stats.client_requests_denied += 1
            error = errors.PermissionDenied(
                f"user {who.id} may not join channel(s) {', '.join(denied)}"
            )
            await self._gate.send_error(sid, error)
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
            await self._bus.publish(
                channel_key(packet.channel_id),
                ChannelEmit(channel_id=packet.channel_id, payload=payload, event=event),
            )
            self.stats.channel_events_sent += 1

        return channel_event

    async def _user_list(self, sid: str, _member: _Member, _data: Any) -> dict[str, Any]:
        answer = {"user_ids": self._presence.replica.view.user_ids()}
        await self._sio.emit("user-list", answer, to=sid)
        return answer

    async def _usage(self, sid: str, _member: _Member, data: Any) -> dict[str, Any]:
        packet = parse(Usage, data)
        if len(packet.model) > self._max_model_name:
            raise errors.EventValidationError(
                f"model: {len(packet.model)} characters, over {self._max_model_name} "
                "(EVENTWIRE_MAX_MODEL_NAME_LENGTH)"
            )
        self._announcer.use_model(sid, packet.model, asyncio.get_running_loop().time())
        # Never the whole cluster's list: an answer must not grow with what others report.
        models = self._presence.replica.view.models_in_use()[: self._max_models_in_answer]
        answer = {"models": models}
        await self._sio.emit("usage", answer, to=sid)
        return answer

    async def _heartbeat(self, _sid: str, _member: _Member, _data: Any) -> None:
        # Open WebUI stamps the user's last-active time in its database; an edge has none.
        # Liveness needs no client heartbeat: Socket.IO pings the socket, nodes beat presence.
        self.stats.heartbeats += 1

    # -- helpers ---------------------------------------------------------------------------

    async def _reauthenticate(self, sid: str, member: _Member, token: str) -> None:
        """A token sent with a request must be valid and name the connection's own user.

        Its claims replace the connection's: channels they no longer grant are left at once.
        """
        identity = verify_token(token, self._secret)
        if identity.id != member.identity.id:
            raise errors.PermissionDenied("the token names another user than this connection")
        member.identity = identity
        revoked = [
            channel
            for channel in sorted(member.channels)
            if not await self.authorizer.may_join(identity, identity.claims, channel)
        ]
        await self._leave(sid, member, revoked)

    async def _enter(self, sid: str, member: _Member, channels: Iterable[str]) -> None:
        new = [c for c in dict.fromkeys(channels) if c not in member.channels]
        room = max(self._max_channels - len(member.channels), 0)
        new, over = new[:room], new[room:]
        try:
            keys = [channel_key(c) for c in new]
        except ValueError as exc:
            raise errors.EventValidationError(f"channel id: {exc}") from None
        if keys and self._bindings is not None:
            # Counted before the first await, so a disconnect meanwhile releases exactly these.
            member.channels.update(new)
            await self._bindings.acquire(*keys)
            if self._gate.member(sid) is not member:
                return  # disconnected while binding
            for key in keys:
                await self._sio.enter_room(sid, key)
        if over:
            self._gate.stats.client_requests_denied += 1
            await self._gate.send_error(
                sid,
                errors.PermissionDenied(
                    f"{len(over)} channel(s) not joined: a connection may be a member of at "
                    f"most {self._max_channels} (EVENTWIRE_MAX_CHANNELS_PER_CONNECTION)"
                ),
            )

    async def _leave(self, sid: str, member: _Member, channels: Iterable[str]) -> None:
        gone = [c for c in channels if c in member.channels]
        if not gone:
            return
        # Uncounted before the first await, so a disconnect meanwhile releases only the rest.
        member.channels.difference_update(gone)
        keys = [channel_key(c) for c in gone]
        for key in keys:
            await self._sio.leave_room(sid, key)
        if self._bindings is not None:
            await self._bindings.release(*keys)
