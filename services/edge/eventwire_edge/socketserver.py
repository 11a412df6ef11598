"""The edge's python-socketio server: packets checked before dispatch, attachments before buffering.

python-socketio's ``_handle_eio_message`` is where every client frame arrives. It dispatches
undecodable packets into exceptions that python-engineio logs as two tracebacks (its own
stream handler and the root logger's), and buffers binary attachments without any bound
before the gate ever sees their event. This subclass takes over that one method:

- a frame that is not a well-formed packet (``wire.EdgePacket``) is handed to the guard (the
  gate), which counts it, charges it to the connection's rate limit and answers it; before
  the connection joined, it is closed;
- a binary packet may declare at most ``EVENTWIRE_MAX_CLIENT_PACKET_ATTACHMENTS``
  attachments, and its bytes are counted as each attachment arrives: over the packet limit
  (``EVENTWIRE_MAX_CLIENT_PACKET_BYTES`` for events, ``EVENTWIRE_MAX_PAYLOAD_BYTES`` for call
  answers) it is refused at once, and the attachments still to come are dropped unread.

Well-formed packets go on to python-socketio's own handlers, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import socketio
from socketio import packet as sio_packet

from eventwire import errors

from .outgoing import EdgeEngineServer
from .roomindex import IndexedRooms
from .settings import EdgeSettings
from .wire import EdgePacket, MalformedPacket, packet_class

_BINARY = (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK)
OriginCheck = Callable[[str | None, dict[str, Any]], bool]


def origin_policy(settings: EdgeSettings) -> str | OriginCheck:
    """Who may open a socket: the edge's own page, plus ``EVENTWIRE_CORS_ALLOWED_ORIGINS``.

    Browsers send ``Origin`` with every Socket.IO request, websocket upgrades included (where
    CORS does not apply, so the server must check). ``*`` allows any origin.
    """
    value = settings.cors_allowed_origins.strip()
    if value == "*":
        return "*"
    listed = frozenset(o.strip().rstrip("/") for o in value.split(",") if o.strip())

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        return origin is not None and (origin in listed or origin in _own_origins(environ))

    return allowed


def _own_origins(environ: dict[str, Any]) -> set[str]:
    """The page's own origin, as python-engineio reckons it (behind a proxy too)."""
    host = environ.get("HTTP_HOST")
    if host is None:
        return set()
    scheme = environ.get("wsgi.url_scheme", "http")
    own = {f"{scheme}://{host}"}
    forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", host).split(",")[0].strip()
    forwarded_scheme = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
    own.add(f"{forwarded_scheme}://{forwarded_host}")
    return own


class ConnectHooks(Protocol):
    """Connection state recovery around python-socketio's CONNECT (``recovery.py``)."""

    async def claim(self, auth: dict[str, Any]) -> str | None:
        """The sid a CONNECT carrying ``pid`` gets back, or None (a new session)."""

    def pid(self, sid: str) -> str | None:
        """The ``pid`` the CONNECT answer carries (None: none, recovery is off)."""

    async def abandon(self, sid: str) -> None:
        """The claimed sid was refused after all."""

    async def connected(self, sid: str) -> None:
        """The CONNECT answer is out: what the session missed, then its live stream."""


class PacketGuard(Protocol):
    async def refuse_packet(self, sid: str | None, error: errors.EventwireError) -> None:
        """A client packet was refused before dispatch (``sid``: None before it joined)."""


@dataclass
class _Incoming:
    """Per Engine.IO connection: the binary packet being assembled, or attachments to drop."""

    pending: EdgePacket | None = None
    pending_bytes: int = 0
    to_drop: int = 0  # attachments of a refused packet still to arrive


class EdgeSocketServer(socketio.AsyncServer):  # type: ignore[misc]  # untyped library
    def __init__(self, settings: EdgeSettings, **kwargs: Any) -> None:
        self._settings = settings
        kwargs.setdefault("client_manager", IndexedRooms())  # disconnects not O(sockets)
        super().__init__(
            serializer=packet_class(settings.max_json_depth),
            max_http_buffer_size=settings.max_payload_bytes * 2,
            cors_allowed_origins=origin_policy(settings),
            **kwargs,
        )
        self.guard: PacketGuard | None = None
        self.hooks: ConnectHooks | None = None
        self._incoming: dict[str, _Incoming] = {}
        self._closed_cleanly: set[str] = set()  # sids whose tab closed (vs. a dropped transport)

    def _engineio_server_class(self) -> type[EdgeEngineServer]:
        settings = self._settings

        class Engine(EdgeEngineServer):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, max_queue_bytes=settings.max_client_queue_bytes, **kwargs)

        return Engine

    @property
    def engine(self) -> EdgeEngineServer:
        engine: EdgeEngineServer = self.eio
        return engine

    # -- every client frame ------------------------------------------------------------------

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        socket = self.engine.sockets.get(eio_sid)
        if socket is None or socket.closed:
            return  # dropped: what it had already sent is not read
        incoming = self._incoming.setdefault(eio_sid, _Incoming())
        if isinstance(data, bytes):
            await self._attachment(eio_sid, incoming, data)
            return
        incoming.to_drop = 0  # a text frame: no attachment of a refused packet comes after it
        if incoming.pending is not None:
            pending, incoming.pending = incoming.pending, None
            error = errors.EventValidationError("malformed packet: its attachments never came")
            await self._refuse_binary(eio_sid, pending, error)
        try:
            pkt = self.packet_class(encoded_packet=data)
        except MalformedPacket as exc:
            await self._refuse(eio_sid, "/", exc)
            return
        namespace = pkt.namespace or "/"
        kind = pkt.packet_type
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
            return
        if kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
            return
        if self.manager.sid_from_eio_sid(eio_sid, namespace) is None:
            await self._refuse(eio_sid, "/", MalformedPacket(f"not connected to {namespace!r}"))
            return
        if kind in _BINARY:
            await self._binary_header(eio_sid, incoming, pkt, len(data))
        elif kind == sio_packet.EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        else:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)

    async def _binary_header(
        self, eio_sid: str, incoming: _Incoming, pkt: EdgePacket, size: int
    ) -> None:
        count = pkt.attachment_count
        allowed = self._settings.max_client_packet_attachments
        limit = self._limit(pkt)
        if count > allowed or size > limit:
            incoming.to_drop = count
            what = f"{count} attachments" if count > allowed else f"{size} bytes of header"
            await self._refuse_binary(
                eio_sid,
                pkt,
                errors.PayloadTooLarge(
                    f"binary packet declares {what}, over the limit ({allowed} attachments, "
                    f"{limit} bytes); dropped"
                ),
            )
            return
        if count == 0:  # nothing to wait for: python-socketio would wait forever
            await self._refuse(eio_sid, "/", MalformedPacket("a binary packet of 0 attachments"))
            return
        incoming.pending, incoming.pending_bytes = pkt, size

    async def _attachment(self, eio_sid: str, incoming: _Incoming, data: bytes) -> None:
        pkt = incoming.pending
        if pkt is None:
            if incoming.to_drop > 0:
                incoming.to_drop -= 1  # part of a packet already refused: dropped unread
                return
            await self._refuse(eio_sid, "/", MalformedPacket("an attachment no packet announced"))
            return
        incoming.pending_bytes += len(data)
        limit = self._limit(pkt)
        if incoming.pending_bytes > limit:
            incoming.pending = None
            incoming.to_drop = pkt.attachment_count - len(pkt.attachments) - 1
            await self._refuse_binary(
                eio_sid,
                pkt,
                errors.PayloadTooLarge(
                    f"binary packet is over the {limit}-byte limit "
                    f"({incoming.pending_bytes} bytes with {incoming.to_drop} attachment(s) "
                    "still to come); dropped"
                ),
            )
            return
        try:
            complete = pkt.add_attachment(data)
        except MalformedPacket as exc:
            incoming.pending = None
            await self._refuse(eio_sid, "/", exc)
            return
        if not complete:
            return
        incoming.pending = None
        if pkt.packet_type == sio_packet.BINARY_EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        else:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)

    async def _refuse_binary(
        self, eio_sid: str, pkt: EdgePacket, error: errors.EventwireError
    ) -> None:
        await self._refuse(eio_sid, pkt.namespace or "/", error)
        if pkt.packet_type == sio_packet.BINARY_ACK:
            # The call it answers fails now (client_error), not at its timeout.
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, [{"error": error.message}])

    def _limit(self, pkt: EdgePacket) -> int:
        if pkt.packet_type == sio_packet.BINARY_ACK:  # a call's answer
            return self._settings.max_payload_bytes
        return self._settings.max_client_packet_bytes

    async def _refuse(self, eio_sid: str, namespace: str, error: Exception) -> None:
        if not isinstance(error, errors.EventwireError):
            error = errors.EventValidationError(f"malformed packet: {error}")
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace) or self.manager.sid_from_eio_sid(
            eio_sid, "/"
        )
        if self.guard is not None:
            await self.guard.refuse_packet(sid, error)
        if sid is None:  # not even joined: no client speaks like this
            await self.engine.drop(eio_sid, "malformed packet")

    # -- connect and disconnect, with recovery -------------------------------------------

    def closed_cleanly(self, sid: str) -> bool:
        """Whether the disconnect being handled for ``sid`` is a tab closing (a websocket close
        frame or a DISCONNECT / CLOSE packet from the client), not a dropped transport."""
        return sid in self._closed_cleanly

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        hooks = self.hooks
        if hooks is None:
            await super()._handle_connect(eio_sid, namespace, data)
            return
        # python-socketio's own flow (always_connect=False), with recovery's three steps: the
        # sid a recovered tab gets back, the pid in the CONNECT answer, the replay after it.
        namespace = namespace or "/"
        claimed = None
        if isinstance(data, dict) and "pid" in data:
            claimed = await hooks.claim(data)
            data = {k: v for k, v in data.items() if k not in ("pid", "offset")}
        sid = None
        if namespace in self.namespace_handlers:
            self.engine.next_sid = claimed
            sid = await self.manager.pre_connect(eio_sid, namespace)
            self.engine.next_sid = None
        if sid is None:
            await self._refuse_connect(eio_sid, namespace, "Unable to connect", claimed)
            return
        fail_reason: Any = socketio.exceptions.ConnectionRefusedError().error_args
        try:
            success = await self._trigger_event(
                "connect", namespace, sid, self.environ[eio_sid], data or None
            )
        except socketio.exceptions.ConnectionRefusedError as exc:
            fail_reason, success = exc.error_args, False
        if success is False:
            await self.manager.disconnect(sid, namespace, ignore_queue=True)
            await self._refuse_connect(eio_sid, namespace, fail_reason, claimed)
            return
        answer: dict[str, Any] = {"sid": sid}
        pid = hooks.pid(sid)
        if pid is not None:
            answer["pid"] = pid
        await self._send_packet(
            eio_sid, self.packet_class(sio_packet.CONNECT, answer, namespace=namespace)
        )
        await self.manager.connect(sid, namespace)
        await hooks.connected(sid)

    async def _refuse_connect(
        self, eio_sid: str, namespace: str, reason: Any, claimed: str | None
    ) -> None:
        await self._send_packet(
            eio_sid, self.packet_class(sio_packet.CONNECT_ERROR, data=reason, namespace=namespace)
        )
        if claimed is not None and self.hooks is not None:
            await self.hooks.abandon(claimed)

    async def _handle_disconnect(
        self, eio_sid: str, namespace: str | None, reason: Any = None
    ) -> None:
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        socket = self.engine.sockets.get(eio_sid)
        clean = reason in (self.reason.CLIENT_DISCONNECT, self.reason.SERVER_DISCONNECT) or (
            socket is not None and getattr(socket.queue, "closed_by_client", False)
        )
        if sid is not None and clean:
            self._closed_cleanly.add(sid)
        try:
            await super()._handle_disconnect(eio_sid, namespace, reason)
        finally:
            if sid is not None:
                self._closed_cleanly.discard(sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._incoming.pop(eio_sid, None)
        self._binary_packet.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)
