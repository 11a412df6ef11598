"""python-socketio's client manager on eventwire's bus: routed rooms, calls from any process.

Where ``AsyncRedisManager`` and ``AsyncAioPikaManager`` fan every event out to every server,
this manager binds each server's queue to the keys of the rooms it holds members of
(``topology.sio_room_key``; a sid is its own room) and of the namespaces it has sockets in
(``sio_all_key``), so an emit reaches only the servers that deliver it. Callbacks and
``call()`` travel as request/reply with correlation ids, from servers and from write-only
processes alike, and fail at once (``errors``) when nobody holds the sid or it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import socketio

from eventwire.backends import open_bus
from eventwire.bus import Bus
from eventwire.dispatch import Dispatcher
from eventwire.errors import BrokerUnavailable, CallError, SessionOffline, Unroutable
from eventwire.protocol import (
    CallCancel,
    CallReply,
    Message,
    SioCall,
    SioDisconnect,
    SioEmit,
    SioRoomOp,
)
from eventwire.settings import Settings
from eventwire.tasks import TaskSet
from eventwire.topology import sio_room_key

from .errors import CallBrokerDown, CallFailed, CallTimedOut, SidDisconnected, SidOffline
from .errors import call_error as reply_error
from .replies import Replies
from .rooms import RoomKeys, room_key
from .serving import Serving, failed
from .wire import as_args, as_data, result_of, rooms_of, skips_of

log = logging.getLogger(__name__)


@dataclass
class ManagerStats:
    messages: int = 0  # everything this server's queue delivered
    emits_received: int = 0  # SioEmit among them (own copies included)
    emits_published: int = 0
    calls_served: int = 0  # SioCall delivered to this server's sockets


class EventwireManager(socketio.AsyncManager):  # type: ignore[misc]  # untyped library
    """A drop-in ``client_manager`` for ``socketio.AsyncServer`` (python-socketio 5.16+).

    ``url`` is the broker (default ``AMQP_URL``; ``memory://`` for one process), ``channel``
    the eventwire namespace that isolates a deployment (default ``EVENTWIRE_NAMESPACE``).
    ``write_only=True``: a process without sockets that emits, calls and manages rooms.
    ``fail_on_disconnect=False`` keeps python-socketio's rule that a call whose client leaves
    waits out its timeout (for applications with their own resume logic).
    ``logger`` and ``json`` are accepted for compatibility; payloads travel as msgpack.
    """

    name = "eventwire"

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
        self._dispatch.on(SioEmit, self._on_emit)
        self._dispatch.on(SioCall, self._on_call)
        self._dispatch.on(CallCancel, self._on_cancel)
        self._dispatch.on(SioRoomOp, self._on_room_op)
        self._dispatch.on(SioDisconnect, self._on_disconnect)

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
            "connected": self._started and self.bus.connected,
            "bound_keys": sorted(self._keys.bound) if self._keys is not None else [],
            "outbox": self.bus.outbox_depth if self._bus is not None else 0,
            "calls_waiting": self._replies.pending if self._replies is not None else 0,
            "calls_serving": len(self._serving),
            **asdict(self.stats),
        }

    def install(self, server: Any) -> EventwireManager:
        """Become ``server``'s client manager (an ``AsyncServer`` made without one), before it
        serves its first client."""
        server.manager = self
        server.manager_initialized = False
        self.set_server(server)
        return self

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        # The server's own call() cannot carry its timeout to the manager nor stop waiting
        # when the client leaves; route it through ours (same signature and result).
        server.call = self._server_call

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

    # -- emits -------------------------------------------------------------------------

    async def emit(  # noqa: PLR0917  # python-socketio's signature
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Callable[..., Any] | None = None,
        to: Any = None,
        ignore_queue: bool = False,
        **kwargs: Any,
    ) -> None:
        namespace = namespace or "/"
        target = to or room
        if ignore_queue:
            await super().emit(
                event, data, namespace, room=target, skip_sid=skip_sid, callback=callback
            )
            return
        await self.start()
        if callback is not None:
            await self._emit_with_callback(
                event=event,
                data=data,
                namespace=namespace,
                target=target,
                skip_sid=skip_sid,
                callback=callback,
            )
            return
        rooms = rooms_of(target)
        if rooms == []:
            return  # to=[]: nobody
        if rooms is not None and len(rooms) == 1 and self._holds_sid(namespace, rooms[0]):
            # A sid lives on one server: this one.
            await super().emit(event, data, namespace, room=rooms[0], skip_sid=skip_sid)
            return
        await super().emit(event, data, namespace, room=rooms, skip_sid=skip_sid)
        args, skip = as_args(data), skips_of(skip_sid)
        keys = (
            [room_key(namespace, None)]
            if rooms is None
            else [room_key(namespace, r) for r in rooms]
        )
        for index, key in enumerate(keys):
            message = SioEmit(
                host=self.host_id,
                namespace=namespace,
                event=event,
                args=args,
                rooms=rooms,
                index=index,
                skip=skip,
            )
            await self.bus.publish(key, message, buffer=True)
            self.stats.emits_published += 1

    async def _emit_with_callback(
        self,
        *,
        event: str,
        data: Any,
        namespace: str,
        target: Any,
        skip_sid: Any,
        callback: Callable[..., Any],
    ) -> None:
        if not isinstance(target, str):
            raise ValueError("a callback addresses one sid (to=sid)")
        if self._holds_sid(namespace, target):
            await super().emit(
                event, data, namespace, room=target, skip_sid=skip_sid, callback=callback
            )
            return
        call_id, answer = self._expect()
        call = self._call_message(
            call_id=call_id,
            event=event,
            data=data,
            namespace=namespace,
            target=target,
            skip_sid=skip_sid,
            timeout=None,
        )
        try:
            await self._publish_call(call)
        except BaseException:
            self._forget(call_id)
            raise
        self._background.spawn(
            self._deliver_answer(call, answer, callback), name=f"callback:{call_id}"
        )

    async def _deliver_answer(
        self, call: SioCall, answer: asyncio.Future[CallReply], callback: Callable[..., Any]
    ) -> None:
        try:
            reply = await answer
        except CallFailed as exc:
            log.warning("callback for %r to %s will not be called: %s", call.event, call.room, exc)
            return
        finally:
            self._forget(call.id)
        if not reply.ok:
            log.info("callback for %r to %s not called: %s", call.event, call.room, reply.message)
            return
        result = callback(*(reply.value or []))
        if inspect.isawaitable(result):
            await result

    # -- calls -------------------------------------------------------------------------

    async def call(  # noqa: PLR0917  # AsyncServer.call's signature
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
    ) -> Any:
        """Emit to one sid on any server and return its acknowledgement, as
        ``AsyncServer.call`` does; works from write-only processes too.

        Raises (all ``socketio.exceptions.TimeoutError``): ``SidOffline`` at once when no
        server holds the sid, ``SidDisconnected`` as soon as it leaves mid-call,
        ``CallTimedOut`` after ``timeout`` seconds (None: no limit), ``CallBrokerDown``.
        """
        target = to or sid
        if target is None:
            raise ValueError("Cannot use call() to broadcast.")
        namespace = namespace or "/"
        await self.start()
        if self._holds_sid(namespace, target):
            return result_of(await self._call_here(event, data, namespace, target, timeout))
        return result_of(await self._call_there(event, data, namespace, target, timeout))

    async def _server_call(  # noqa: PLR0917  # AsyncServer.call's signature
        self,
        event: str,
        data: Any = None,
        to: str | None = None,
        sid: str | None = None,
        namespace: str | None = None,
        timeout: float | None = 60,
        ignore_queue: bool = False,
    ) -> Any:
        server = self.server
        if ignore_queue:  # this server's own sockets only: python-socketio's call() does it
            return await type(server).call(
                server, event, data, to=to, sid=sid, namespace=namespace, timeout=timeout,
                ignore_queue=True,
            )  # fmt: skip
        if not server.async_handlers:
            raise RuntimeError("Cannot use call() when async_handlers is False.")
        return await self.call(event, data, to=to, sid=sid, namespace=namespace, timeout=timeout)

    async def _call_here(
        self, event: str, data: Any, namespace: str, sid: str, timeout: float | None
    ) -> tuple[Any, ...]:
        answer: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

        def acked(*args: Any) -> None:
            if not answer.done():
                answer.set_result(args)

        waits = self._local_waits[(namespace, sid)]
        waits.add(answer)
        try:
            await super().emit(event, data, namespace, room=sid, callback=acked)
            async with asyncio.timeout(timeout):
                return await answer
        except TimeoutError:
            raise CallTimedOut(f"{sid} did not answer {event!r} within {timeout:g}s") from None
        finally:
            waits.discard(answer)
            if not waits:
                self._local_waits.pop((namespace, sid), None)

    async def _call_there(
        self, event: str, data: Any, namespace: str, target: str, timeout: float | None
    ) -> list[Any]:
        call_id, answer = self._expect()
        call = self._call_message(
            call_id=call_id,
            event=event,
            data=data,
            namespace=namespace,
            target=target,
            skip_sid=None,
            timeout=timeout,
        )
        try:
            async with asyncio.timeout(timeout):
                await self._publish_call(call)
                reply = await answer
                if not reply.ok:
                    if reply.error == SidDisconnected.code and not self.fail_on_disconnect:
                        await asyncio.get_running_loop().create_future()  # wait out the timeout
                    raise reply_error(reply.error, reply.message)
                return list(reply.value or [])
        except CallFailed:
            raise
        except TimeoutError:
            self._cancel_later(call)
            raise CallTimedOut(f"{target} did not answer {event!r} within {timeout:g}s") from None
        except asyncio.CancelledError:
            self._cancel_later(call)  # e.g. the application gave up: stop the far side waiting
            raise
        finally:
            self._forget(call_id)

    def _call_message(
        self,
        *,
        call_id: str,
        event: str,
        data: Any,
        namespace: str,
        target: str,
        skip_sid: Any,
        timeout: float | None,
    ) -> SioCall:
        return SioCall(
            id=call_id,
            namespace=namespace,
            event=event,
            args=as_args(data),
            room=target,
            skip=skips_of(skip_sid),
            reply_to=self._reply_queue().reply_to,
            timeout=timeout,
        )

    async def _publish_call(self, call: SioCall) -> None:
        try:
            await self.bus.publish(
                sio_room_key(call.namespace, call.room), call, mandatory=True, ttl=call.timeout
            )
        except Unroutable:
            raise SidOffline(
                f"{call.room} is not connected to any server (namespace {call.namespace})"
            ) from None
        except BrokerUnavailable as exc:
            raise CallBrokerDown(str(exc)) from None

    def _cancel_later(self, call: SioCall) -> None:
        async def cancel() -> None:
            message = CallCancel(id=call.id, session_id=call.room)
            # If this is lost, the far side's own timeout, or its socket leaving, ends the wait.
            with contextlib.suppress(BrokerUnavailable, Unroutable):
                await self.bus.publish(sio_room_key(call.namespace, call.room), message)

        self._background.spawn(cancel(), name=f"cancel:{call.id}")

    def _reply_queue(self) -> Replies:
        if self._replies is None:
            raise BrokerUnavailable("the socket.io manager is not started")
        return self._replies

    def _expect(self) -> tuple[str, asyncio.Future[CallReply]]:
        return self._reply_queue().expect()

    def _forget(self, call_id: str) -> None:
        self._reply_queue().forget(call_id)

    # -- rooms and connections ---------------------------------------------------------

    def _holds_sid(self, namespace: str, sid: str) -> bool:
        return sid in self.rooms.get(namespace, {}).get(None, {})

    async def _sync(self, namespace: str, *rooms: str | None) -> None:
        if self._keys is not None:
            await self._keys.sync(namespace, *rooms)

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """python-socketio >= 5.17: the sid exists from here on, so its key is bound here."""
        await self.start()
        sid: str | None = await super().pre_connect(eio_sid, namespace)
        if sid is not None:
            await self._sync(namespace, None, sid)
        return sid

    async def connect(self, sid: str, namespace: str) -> str | None:
        # 5.16 passes the eio sid and registers here; 5.17+ passes the sid pre_connect made.
        await self.start()
        registered: str | None = await super().connect(sid, namespace)
        if registered is not None:
            await self._sync(namespace, None, registered)
        return registered

    async def can_disconnect(self, sid: str, namespace: str) -> bool:
        namespace = namespace or "/"
        if self._holds_sid(namespace, sid):
            return bool(await super().can_disconnect(sid, namespace))
        await self._to_sid(namespace, sid, SioDisconnect(namespace=namespace, sid=sid))
        return False

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        namespace = namespace or "/"
        if not kwargs.get("ignore_queue"):
            if self._holds_sid(namespace, sid) and self.server is not None:
                await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)
            else:
                await self._to_sid(namespace, sid, SioDisconnect(namespace=namespace, sid=sid))
            return
        rooms = [r for r, members in self.rooms.get(namespace, {}).items() if sid in members]
        for waiting in self._local_waits.pop((namespace, sid), set()):
            if self.fail_on_disconnect and not waiting.done():
                waiting.set_exception(SidDisconnected(f"{sid} left before answering"))
        await super().disconnect(sid, namespace, **kwargs)
        await self._serving.left(sid)
        await self._sync(namespace, *rooms)

    async def enter_room(
        self, sid: str, namespace: str, room: str, eio_sid: str | None = None
    ) -> None:
        namespace = namespace or "/"
        if eio_sid is not None or self._holds_sid(namespace, sid):
            await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
            await self._sync(namespace, room)
            return
        await self.start()
        await self._enter_there(sid, namespace, room)

    async def _enter_there(self, sid: str, namespace: str, room: str) -> None:
        # Confirmed: once this returns, the sid's server is bound to the room's key, so an
        # emit to the room made next reaches it (a fire-and-forget op could lose that race).
        call_id, answer = self._expect()
        op = SioRoomOp(
            op="enter",
            host=self.host_id,
            namespace=namespace,
            room=room,
            sid=sid,
            id=call_id,
            reply_to=self._reply_queue().reply_to,
        )
        try:
            async with asyncio.timeout(self.control_timeout):
                try:
                    await self.bus.publish(sio_room_key(namespace, sid), op, mandatory=True)
                except Unroutable:
                    raise SidOffline(f"{sid} is not connected to any server") from None
                reply = await answer
        except TimeoutError:
            raise CallTimedOut(f"{sid}'s server did not confirm entering {room!r}") from None
        finally:
            self._forget(call_id)
        if not reply.ok:
            raise reply_error(reply.error, reply.message)

    async def leave_room(self, sid: str, namespace: str, room: str) -> None:
        namespace = namespace or "/"
        if self._holds_sid(namespace, sid):
            await super().leave_room(sid, namespace, room)
            await self._sync(namespace, room)
            return
        await self.start()
        op = SioRoomOp(op="leave", host=self.host_id, namespace=namespace, room=room, sid=sid)
        await self._to_sid(namespace, sid, op)

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        namespace = namespace or "/"
        await self.start()
        await super().close_room(room, namespace)
        await self._sync(namespace, room)
        op = SioRoomOp(op="close", host=self.host_id, namespace=namespace, room=room)
        await self.bus.publish(sio_room_key(namespace, room), op, buffer=True)

    async def _to_sid(self, namespace: str, sid: str, message: Message) -> None:
        # Not mandatory: like python-socketio, leaving or disconnecting a sid that is gone
        # already is no error. Buffered through an outage, in order with emits.
        await self.start()
        await self.bus.publish(sio_room_key(namespace, sid), message, buffer=True)

    # -- what other processes send this server -----------------------------------------

    async def _counted(self, key: str, message: Message) -> None:
        self.stats.messages += 1
        await self._dispatch(key, message)

    async def _on_emit(self, _key: str, message: SioEmit) -> None:
        self.stats.emits_received += 1
        if message.host == self.host_id:
            return  # delivered to this server's members before it was published
        room, skip = None, list(message.skip)
        if message.rooms is not None:
            if message.index >= len(message.rooms):
                log.warning("dropped an emit whose room index is out of range")
                return
            room = message.rooms[message.index]
            for earlier in message.rooms[: message.index]:  # they got it with that copy
                skip.extend(sid for sid, _ in self.get_participants(message.namespace, earlier))
        await super().emit(
            message.event, as_data(message.args), message.namespace, room=room, skip_sid=skip
        )

    async def _on_call(self, _key: str, call: SioCall) -> None:
        self.stats.calls_served += 1
        targets = [
            sid
            for sid, _ in self.get_participants(call.namespace, call.room)
            if sid not in call.skip
        ]
        if not targets:  # it left between the publish and now
            await self._send_reply(call.reply_to, failed(call, "is no longer connected"))
            return
        self._serving.open(call, targets)
        data = as_data(call.args)
        for sid in targets:
            await super().emit(
                call.event, data, call.namespace, room=sid, callback=self._serving.answer(call.id)
            )

    async def _on_cancel(self, _key: str, message: CallCancel) -> None:
        self._serving.cancel(message.id)

    async def _on_room_op(self, _key: str, op: SioRoomOp) -> None:
        if op.op == "close":
            if op.host != self.host_id:
                await super().close_room(op.room, op.namespace)
                await self._sync(op.namespace, op.room)
            return
        here = op.sid is not None and self._holds_sid(op.namespace, op.sid)
        reply = CallReply(id=op.id or "", ok=here)
        if not here:
            reply = reply.model_copy(
                update={"error": SessionOffline.code, "message": f"{op.sid} is not here"}
            )
        elif op.op == "enter":
            try:
                await super().enter_room(op.sid, op.namespace, op.room)
            except ValueError as exc:  # e.g. python-socketio's "cannot enter a sid room"
                reply = CallReply(id=reply.id, ok=False, error=CallError.code, message=str(exc))
            await self._sync(op.namespace, op.room)
        else:
            await super().leave_room(op.sid, op.namespace, op.room)
            await self._sync(op.namespace, op.room)
        if op.op == "enter" and op.reply_to is not None:
            await self._send_reply(op.reply_to, reply)

    async def _on_disconnect(self, _key: str, message: SioDisconnect) -> None:
        if self.server is not None and self._holds_sid(message.namespace, message.sid):
            await self.server.disconnect(
                message.sid, namespace=message.namespace, ignore_queue=True
            )

    async def _send_reply(self, reply_to: str, reply: CallReply) -> None:
        try:
            await self.bus.send(reply_to, reply)
        except BrokerUnavailable as exc:
            # The caller's own timeout (or its connection loss) ends its wait.
            log.warning("answer to call %s lost: %s", reply.id, exc)
