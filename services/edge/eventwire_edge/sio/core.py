"""The manager's state and lifecycle, and python-socketio's single-server operations.

``EventwireManager`` (``manager.py``) is layered like python-socketio's own managers: this
core holds the bus, the reply queue, the room keys and the counters; ``calling.py`` is the
caller's side of callbacks and calls; ``inbound.py`` handles what other processes send.
The ``*_here`` methods are python-socketio's ``AsyncManager`` behaviour for this server's
own sockets, named, so no layer depends on which ``super()`` comes next.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import socketio

from eventwire.backends import open_bus
from eventwire.bus import Bus
from eventwire.dispatch import Dispatcher
from eventwire.errors import BrokerUnavailable, ProtocolError
from eventwire.protocol import CallReply, Message, SioCall, SioEmit
from eventwire.settings import Settings
from eventwire.tasks import TaskSet

from ..roomindex import IndexedRooms
from .replies import Replies
from .rooms import RoomKeys
from .serving import Serving

log = logging.getLogger(__name__)

M = TypeVar("M", SioEmit, SioCall)


@dataclass
class ManagerStats:
    messages: int = 0  # everything this server's queue delivered
    emits_received: int = 0  # SioEmit among them (own copies included)
    emits_published: int = 0
    calls_served: int = 0  # SioCall delivered to this server's sockets


class ManagerCore(IndexedRooms):
    def __init__(
        self,
        url: str | None = None,
        channel: str | None = None,
        write_only: bool = False,
        logger: logging.Logger | None = None,
        json: Any = None,
        *,
        settings: Settings | None = None,
        bus: Bus | None = None,
        control_timeout: float = 10.0,
        fail_on_disconnect: bool = True,
    ) -> None:
        super().__init__()
        updates: dict[str, Any] = {
            k: v for k, v in (("amqp_url", url), ("namespace", channel)) if v is not None
        }
        if settings is None:
            settings = Settings.model_validate(updates)  # the environment for everything else
        elif updates:
            settings = settings.model_copy(update=updates)
        self.settings = settings
        self.write_only = write_only
        self.logger = logger
        if json is not None:
            self.json = json
        self.host_id = uuid.uuid4().hex[:12]
        self.control_timeout = control_timeout
        self.fail_on_disconnect = fail_on_disconnect
        self.stats = ManagerStats()
        self._bus = bus
        self._owns_bus = bus is None
        self._replies: Replies | None = None
        self._keys: RoomKeys | None = None
        self._serving = Serving(self._send_reply)
        # (namespace, sid) -> calls waiting for a socket of this server (failed when it leaves)
        self._local_waits: defaultdict[tuple[str, str], set[asyncio.Future[Any]]] = defaultdict(set)
        self._background = TaskSet("socket.io manager")
        self._start_lock = asyncio.Lock()
        self._started = False
        self._dispatch = Dispatcher(f"socket.io manager {self.host_id}")
        self._routes(self._dispatch)

    def _routes(self, dispatch: Dispatcher) -> None:
        """Register the handlers of what other processes send (``inbound.py``)."""

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def bus(self) -> Bus:
        if self._bus is None:
            raise BrokerUnavailable("the socket.io manager is not started")
        return self._bus

    @property
    def connected(self) -> bool:
        return self._started and self.bus.connected

    def describe(self) -> dict[str, Any]:
        """What an operator (or a test) wants to see: routing state and counters."""
        return {
            "host": self.host_id,
            "write_only": self.write_only,
            "connected": self.connected,
            "bound_keys": sorted(self._keys.bound) if self._keys is not None else [],
            "outbox": self.bus.outbox_depth if self._bus is not None else 0,
            "calls_waiting": self._replies.pending if self._replies is not None else 0,
            "calls_serving": len(self._serving),
            **asdict(self.stats),
        }

    def initialize(self) -> None:
        """python-socketio calls this at its first client's connection (Open WebUI's lifespan
        too): connect now instead of on first use. A failure is logged; the next use retries."""
        super().initialize()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no running loop: connect on first use
        self._background.spawn(self.start(), name=f"sio-manager-start:{self.host_id}")

    async def start(self) -> None:
        """Connect (done on first use anyway); raises ``BrokerUnavailable`` if it cannot."""
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            bus = self._bus or open_bus(self.settings)
            if self._owns_bus:
                await bus.start()
            self._bus = bus
            process = f"sio-{self.host_id}"
            replies = Replies(bus, bus.topology.reply_queue(process))
            await replies.start()
            if not self.write_only:
                spec = bus.topology.node_queue(process, self.settings.node_queue_expires)
                inbox = await bus.open_inbox(spec, self._counted)
                self._keys = RoomKeys(inbox, lambda ns, room: room in self.rooms.get(ns, {}))
            self._replies = replies
            self._started = True
            self._get_logger().info("eventwire socket.io manager %s started", self.host_id)

    async def close(self) -> None:
        """Stop waiting, and (when it opened the bus) delete this server's queue."""
        if not self._started:
            return
        self._started = False
        await self._background.close()
        self._serving.close()
        if self._replies is not None:
            self._replies.fail_all()
        if self._owns_bus and self._bus is not None:
            await self._bus.close()

    async def _counted(self, key: str, message: Message) -> None:
        self.stats.messages += 1
        await self._dispatch(key, message)

    # -- this server's own sockets -----------------------------------------------------

    def _holds_sid(self, namespace: str, sid: str) -> bool:
        return sid in self.rooms.get(namespace, {}).get(None, {})

    async def _sync(self, namespace: str, *rooms: str | None) -> None:
        if self._keys is not None:
            await self._keys.sync(namespace, *rooms)

    async def _emit_here(
        self,
        event: str,
        data: Any,
        namespace: str,
        *,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        await socketio.AsyncManager.emit(
            self, event, data, namespace, room=room, skip_sid=skip_sid, callback=callback
        )

    async def _enter_here(
        self, sid: str, namespace: str, room: str, eio_sid: str | None = None
    ) -> None:
        await socketio.AsyncManager.enter_room(self, sid, namespace, room, eio_sid=eio_sid)
        await self._sync(namespace, room)

    async def _leave_here(self, sid: str, namespace: str, room: str) -> None:
        await socketio.AsyncManager.leave_room(self, sid, namespace, room)
        await self._sync(namespace, room)

    async def _close_here(self, room: str, namespace: str) -> None:
        await socketio.AsyncManager.close_room(self, room, namespace)
        await self._sync(namespace, room)

    # -- the bus -----------------------------------------------------------------------

    def _reply_queue(self) -> Replies:
        if self._replies is None:
            raise BrokerUnavailable("the socket.io manager is not started")
        return self._replies

    async def _send_reply(self, reply_to: str, reply: CallReply) -> None:
        try:
            await self.bus.send(reply_to, reply)
        except BrokerUnavailable as exc:
            # The caller's own timeout (or its connection loss) ends its wait.
            log.warning("answer to call %s lost: %s", reply.id, exc)

    def _as_json(self, message: M) -> M:
        """``message`` with its arguments as the server's JSON module renders them: what a
        python-socketio manager delivers for values msgpack has no form for (an Open WebUI
        with ENABLE_ORJSON emits datetimes and UUIDs)."""
        try:
            args = self.json.loads(self.json.dumps(message.args))
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"{message.kind} arguments are not serialisable: {exc}") from exc
        return message.model_copy(update={"args": args})
