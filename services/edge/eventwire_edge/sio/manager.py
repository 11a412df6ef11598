"""python-socketio's client manager on eventwire's bus: routed rooms, calls from any process.

Where ``AsyncRedisManager`` and ``AsyncAioPikaManager`` fan every event out to every server,
this manager binds each server's queue to the keys of the rooms it holds members of
(``topology.sio_room_key``; a sid is its own room) and of the namespaces it has sockets in
(``sio_all_key``), so an emit reaches only the servers that deliver it. Callbacks and
``call()`` travel as request/reply with correlation ids, from servers and from write-only
processes alike, and fail at once (``errors``) when nobody holds the sid or it leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventwire.errors import ProtocolError
from eventwire.protocol import Message, SioDisconnect, SioEmit, SioRoomOp
from eventwire.sio_wire import as_args, rooms_of, skips_of
from eventwire.topology import sio_room_key

from .calling import Calling
from .inbound import Inbound
from .rooms import room_key


class EventwireManager(Calling, Inbound):
    """A drop-in ``client_manager`` for ``socketio.AsyncServer`` (python-socketio 5.16+).

    ``url`` is the broker (default ``AMQP_URL``; ``memory://`` for one process), ``channel``
    the eventwire namespace that isolates a deployment (default ``EVENTWIRE_NAMESPACE``).
    ``write_only=True``: a process without sockets that emits, calls and manages rooms.
    ``fail_on_disconnect=False`` keeps python-socketio's rule that a call whose client leaves
    waits out its timeout (for applications with their own resume logic).
    ``control_timeout``: how long entering a room for a sid on another server waits for
    that server's confirmation. ``settings`` / ``bus``: an eventwire ``Settings`` or a
    started ``Bus`` to use instead of the environment. ``logger`` and ``json`` are
    python-socketio's; ``json`` serves only values msgpack has no form for.
    """

    name = "eventwire"

    def install(self, server: Any) -> EventwireManager:
        """Become ``server``'s client manager (an ``AsyncServer`` made without one), before it
        serves its first client."""
        server.manager = self
        server.manager_initialized = False
        self.set_server(server)
        return self

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        server.call = self._server_call  # carries the timeout, fails when the client leaves

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
        """Deliver to this server's members, then publish once per room key (or to the
        namespace key for everyone). Buffered while the broker is down (``OutboxFull``
        when the outbox is); with ``callback``, see ``Calling``."""
        namespace = namespace or "/"
        target = to or room
        if ignore_queue:
            await self._emit_here(
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
            await self._emit_here(event, data, namespace, room=rooms[0], skip_sid=skip_sid)
            return
        await self._emit_here(event, data, namespace, room=rooms, skip_sid=skip_sid)
        args, skip = as_args(data), skips_of(skip_sid)
        keys = [room_key(namespace, r) for r in rooms] if rooms else [room_key(namespace, None)]
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
            try:
                await self.bus.publish(key, message, buffer=True)
            except ProtocolError:
                message = self._as_json(message)
                args = message.args
                await self.bus.publish(key, message, buffer=True)
            self.stats.emits_published += 1

    # -- connections -------------------------------------------------------------------

    async def pre_connect(self, eio_sid: str, namespace: str) -> str | None:
        """python-socketio >= 5.17: the sid exists from here on, so its keys are bound here,
        before the client's connect handler runs."""
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
        rooms = self.joined(sid, namespace)
        self._fail_local_calls(namespace, sid)
        await super().disconnect(sid, namespace, **kwargs)
        await self._serving.left(sid)
        await self._sync(namespace, *rooms)

    # -- rooms -------------------------------------------------------------------------

    async def enter_room(
        self, sid: str, namespace: str, room: str, eio_sid: str | None = None
    ) -> None:
        """For a sid on another server, returns once that server confirmed (``SidOffline``
        when no server holds it)."""
        namespace = namespace or "/"
        if eio_sid is not None or self._holds_sid(namespace, sid):
            await self._enter_here(sid, namespace, room, eio_sid)
            return
        await self.start()
        await self._enter_there(sid, namespace, room)

    async def leave_room(self, sid: str, namespace: str, room: str) -> None:
        namespace = namespace or "/"
        if self._holds_sid(namespace, sid):
            await self._leave_here(sid, namespace, room)
            return
        op = SioRoomOp(op="leave", host=self.host_id, namespace=namespace, room=room, sid=sid)
        await self._to_sid(namespace, sid, op)

    async def close_room(self, room: str, namespace: str | None = None) -> None:
        namespace = namespace or "/"
        await self.start()
        await self._close_here(room, namespace)
        op = SioRoomOp(op="close", host=self.host_id, namespace=namespace, room=room)
        await self.bus.publish(sio_room_key(namespace, room), op, buffer=True)

    async def _to_sid(self, namespace: str, sid: str, message: Message) -> None:
        # Not mandatory: as in python-socketio, leaving or disconnecting a sid that is gone
        # already is no error. Buffered through an outage, in order with emits.
        await self.start()
        await self.bus.publish(sio_room_key(namespace, sid), message, buffer=True)
