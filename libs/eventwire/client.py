"""The SDK: reach any client from any process.

``Eventwire`` is the typed API (raises named errors). ``event_emitter`` / ``event_call`` build
Open WebUI-shaped helpers from a ``request_info`` dict (``user_id``, ``session_id``,
``chat_id``, ``message_id``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from . import arguments
from .backends import open_bus
from .bus import Bus
from .calls import Caller
from .errors import (
    BrokerUnavailable,
    ConfigurationError,
    EventValidationError,
    EventwireError,
    SessionOffline,
)
from .events import validate_event
from .metrics import CALL_BUCKETS, Histogram
from .presence import Presence
from .presence_bus import BusPresence, watched
from .protocol import Emit, Message
from .settings import Settings, get_settings
from .topology import MAX_SESSION_ID_BYTES, MAX_USER_ID_BYTES, session_key, user_key

log = logging.getLogger(__name__)

EventEmitter = Callable[[dict[str, Any]], Awaitable[None]]
EventCaller = Callable[[dict[str, Any]], Awaitable[Any]]


def new_process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class ClientStats:
    """What this client sent (read by the process's metrics at scrape time)."""

    emits: int = 0  # accepted by the broker, or queued in the outbox
    calls: Counter[str] = field(default_factory=Counter)  # outcome: "ok" or the error code
    call_seconds: Histogram = field(default_factory=lambda: Histogram(CALL_BUCKETS))


class Eventwire:
    """A connection to the bus, for emitting to and calling clients."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        bus: Bus | None = None,
        owns_bus: bool = True,
    ) -> None:
        """``bus``: share a bus another component started (then ``owns_bus=False``)."""
        self.settings = settings or get_settings()
        self.bus = bus or open_bus(self.settings)
        self.process_id = new_process_id()
        self._owns_bus = owns_bus
        self._caller = Caller(self.bus, self.process_id)
        self.stats = ClientStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.presence: BusPresence | None = None
        if self.settings.client_presence:
            self.presence = BusPresence(self.bus, self.settings, self.process_id)

    async def connect(self) -> Self:
        if self._loop is None:
            if self._owns_bus:
                await self.bus.start()
            await self._caller.start()
            if self.presence is not None:
                await self.presence.start()
            self._loop = asyncio.get_running_loop()
        return self

    async def close(self) -> None:
        if self._loop is not None:
            self._loop = None
            if self.presence is not None:
                await self.presence.close()
            await self._caller.close()
            if self._owns_bus:
                await self.bus.close()

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def pending_calls(self) -> int:
        """Calls from this client still waiting for their answer."""
        return self._caller.pending

    @property
    def late_replies(self) -> int:
        """Answers that arrived after their call had given up (dropped, never kept)."""
        return self._caller.late_replies

    @property
    def outbox_depth(self) -> int:
        """Emits held while the broker is unreachable."""
        return self.bus.outbox_depth

    def _foreign_loop(self) -> asyncio.AbstractEventLoop | None:
        """The client's loop when called from another thread's loop, else None."""
        if self._loop is None:
            raise BrokerUnavailable("eventwire is not connected: call connect() first")
        return self._loop if asyncio.get_running_loop() is not self._loop else None

    async def _on_own_loop(self, coro: Coroutine[Any, Any, Any]) -> Any:
        # Plugins call emitters from threads of their own (sync methods, run_in_executor
        # with asyncio.run): hand the work to the loop that owns the broker connection.
        loop = self._foreign_loop()
        if loop is None:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def publish(self, key: str, message: Message) -> None:
        """Publish a bus ``message`` to ``key`` from any thread (buffered through an outage):
        for wire formats carried on the bus, e.g. ``sio_peer.SioPeer``."""
        await self._on_own_loop(self.bus.publish(key, message, buffer=True))

    async def ask(
        self,
        key: str,
        build: Callable[[str, str], Message],
        timeout: float,
        cancel: Callable[[str], Message] | None = None,
        *,
        target: str,
    ) -> Any:
        """``Caller.ask`` on this client's reply queue, from any thread: a request/reply of
        another wire format (``sio_peer.SioPeer``), with this client's errors."""
        return await self._on_own_loop(self._caller.ask(key, build, timeout, cancel, target=target))

    async def emit(
        self,
        event: dict[str, Any],
        *,
        user_id: str,
        chat_id: str | None = None,
        message_id: str | None = None,
        session_id: str | None = None,
        route: str | None = None,
    ) -> None:
        """Send ``event`` to every session of ``user_id`` (or only ``session_id``).

        ``route``: a relayed run's routing key (``Job.relay``) instead of the user's sockets.

        Returns once the broker accepted it, or once it is queued in the outbox while the
        broker is unreachable. Raises ``EventValidationError``, ``InvalidArgument``,
        ``PayloadTooLarge``, ``OutboxFull``.
        """
        validate_event(event)
        user_id = arguments.identifier("user_id", user_id, MAX_USER_ID_BYTES)
        session_id = arguments.optional_identifier("session_id", session_id, MAX_SESSION_ID_BYTES)
        payload = _payload(event, chat_id, message_id)
        key = route or (session_key(session_id) if session_id else user_key(user_id))
        emit = Emit(user_id=user_id, payload=payload, at=time.time())
        await self._on_own_loop(self.bus.publish(key, emit, buffer=True))
        self.stats.emits += 1

    async def call(
        self,
        event: dict[str, Any],
        *,
        user_id: str,
        session_id: str,
        chat_id: str | None = None,
        message_id: str | None = None,
        timeout: float | None = None,
        route: str | None = None,
    ) -> Any:
        """Send ``event`` to one session and return the client's acknowledgement value.

        Raises ``SessionOffline`` (at once), ``CallTimeout``, ``ClientDisconnected``,
        ``ClientError``, ``BrokerUnavailable``, ``EventValidationError``, ``InvalidArgument``
        (e.g. a timeout outside (0, 24 h]).
        """
        validate_event(event)
        user_id = arguments.identifier("user_id", user_id, MAX_USER_ID_BYTES)
        session_id = arguments.identifier("session_id", session_id, MAX_SESSION_ID_BYTES)
        seconds = arguments.call_timeout(
            self.settings.event_caller_timeout if timeout is None else timeout
        )
        payload = _payload(event, chat_id, message_id)
        call = self._caller.call(
            user_id=user_id, session_id=session_id, payload=payload, timeout=seconds, route=route
        )
        started = time.monotonic()
        outcome = "ok"
        try:
            return await self._on_own_loop(self._unless_broker_silent(session_id, call))
        except EventwireError as exc:
            outcome = exc.code
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            self.stats.calls[outcome] += 1
            self.stats.call_seconds.observe(time.monotonic() - started)

    async def _unless_broker_silent(self, session_id: str, call: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await watched(self.presence, session_id, call)
        except SessionOffline:
            # Presence drops a node that fell silent; a frozen broker silences every node
            # before the connection is known lost. Only a broker that answers can say offline.
            if await self.bus.probe():
                raise
            raise BrokerUnavailable(
                f"broker unreachable: cannot tell whether session {session_id} is connected"
            ) from None

    # -- presence: the cluster-wide view (eventually consistent; see README) -------------

    async def _view(self) -> Presence:
        if self._loop is None:
            raise BrokerUnavailable("eventwire is not connected: call connect() first")
        if self.presence is None:
            raise ConfigurationError("presence is off for this client (EVENTWIRE_CLIENT_PRESENCE)")
        await self.presence.ready()
        return self.presence.view

    async def is_online(self, user_id: str) -> bool:
        """Whether ``user_id`` has at least one session on any edge node."""
        return (await self._view()).is_online(user_id)

    async def online_users(self) -> list[str]:
        """Every user with a session on some edge node (Open WebUI's ``user-list``)."""
        return (await self._view()).user_ids()

    async def models_in_use(self) -> list[str]:
        """Models some session reported with ``usage`` lately (Open WebUI's ``usage``)."""
        return (await self._view()).models_in_use()

    def event_emitter(
        self,
        request_info: Mapping[str, Any],
        *,
        only_session: bool = False,
        route: str | None = None,
    ) -> EventEmitter:
        """Open WebUI's ``__event_emitter__`` for ``request_info`` (``route``: see ``emit``)."""
        return _make_emitter(lambda: self, request_info, only_session, route)

    def event_call(
        self,
        request_info: Mapping[str, Any],
        *,
        timeout: float | None = None,
        route: str | None = None,
    ) -> EventCaller:
        """Open WebUI's ``__event_call__`` for ``request_info`` (``route``: see ``emit``)."""
        return _make_caller(lambda: self, request_info, timeout, route)


def _payload(event: dict[str, Any], chat_id: object, message_id: object) -> dict[str, Any]:
    return {
        "chat_id": arguments.optional_identifier("chat_id", chat_id),
        "message_id": arguments.optional_identifier("message_id", message_id),
        "data": event,
    }


def _make_emitter(
    use_client: Callable[[], Eventwire],
    request_info: Mapping[str, Any],
    session_only: bool,
    route: str | None = None,
) -> EventEmitter:
    _required(request_info, "user_id")

    # Like Open WebUI's, the closure's first cell is `request_info`: plugins read chat_id and
    # message_id from `__event_emitter__.__closure__`.
    async def __event_emitter__(event_data: dict[str, Any]) -> None:
        await use_client().emit(
            event_data,
            user_id=request_info["user_id"],
            chat_id=request_info.get("chat_id"),
            message_id=request_info.get("message_id"),
            session_id=request_info.get("session_id") if session_only else None,
            route=route,
        )

    return __event_emitter__


def _make_caller(
    use_client: Callable[[], Eventwire],
    request_info: Mapping[str, Any],
    timeout: float | None,
    route: str | None = None,
) -> EventCaller:
    _required(request_info, "user_id")
    _required(request_info, "session_id")

    async def __event_caller__(event_data: dict[str, Any]) -> Any:
        # Open WebUI's helper answers failures with {"error": ...}; the typed API raises.
        try:
            return await use_client().call(
                event_data,
                user_id=request_info["user_id"],
                session_id=request_info["session_id"],
                chat_id=request_info.get("chat_id"),
                message_id=request_info.get("message_id"),
                timeout=timeout,
                route=route,
            )
        except EventValidationError:
            raise
        except EventwireError as exc:
            log.info("event call to session %s failed: %s", request_info["session_id"], exc)
            return {"error": str(exc), "code": exc.code}

    return __event_caller__


def _required(request_info: Mapping[str, Any], field: str) -> str:
    value = request_info.get(field)
    if not isinstance(value, str) or not value:
        raise EventValidationError(f"request_info field {field!r} must be a non-empty string")
    return value


# -- the process-wide default, for Open WebUI-shaped code ---------------------------------

_default: Eventwire | None = None


async def connect(settings: Settings | None = None) -> Eventwire:
    """Connect the process-wide client used by ``get_event_emitter`` / ``get_event_call``."""
    global _default
    if _default is None:
        _default = Eventwire(settings)
    return await _default.connect()


async def close() -> None:
    global _default
    if _default is not None:
        await _default.close()
        _default = None


def default_client() -> Eventwire:
    if _default is None:
        raise BrokerUnavailable("eventwire is not connected: await eventwire.connect() first")
    return _default


def get_event_emitter(
    request_info: Mapping[str, Any], *, only_session: bool = False
) -> EventEmitter:
    """Open WebUI's ``get_event_emitter``: emits to every session of the user."""
    return _make_emitter(default_client, request_info, only_session)


def get_event_call(request_info: Mapping[str, Any], *, timeout: float | None = None) -> EventCaller:
    """Open WebUI's ``get_event_call``: asks ``session_id`` and returns its answer."""
    return _make_caller(default_client, request_info, timeout)
