"""The caller's side: ``call()``, ``emit(..., callback=)`` and confirmed remote room entry.

A call to a sid of this server is python-socketio's own; any other is a ``SioCall``
published ``mandatory`` to the sid's room key (``SidOffline`` at once when no server is
bound to it) with the timeout as TTL, answered on this process's reply queue. A timed-out
or cancelled call sends ``CallCancel`` so the far side stops waiting too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from eventwire.errors import BrokerUnavailable, ProtocolError, Unroutable
from eventwire.protocol import CallCancel, CallReply, SioCall, SioRoomOp
from eventwire.sio_wire import as_args, result_of, skips_of
from eventwire.topology import sio_room_key

from .core import ManagerCore
from .errors import CallBrokerDown, CallFailed, CallTimedOut, SidDisconnected, SidOffline
from .errors import call_error as reply_error

log = logging.getLogger(__name__)


class Calling(ManagerCore):
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
        """What ``server.call`` becomes (``set_server``): the server's own cannot carry its
        timeout to the manager, nor stop waiting when the client leaves."""
        server = self.server
        if ignore_queue:  # this server's own sockets only: python-socketio's call() does it
            return await type(server).call(
                server, event, data, to=to, sid=sid, namespace=namespace, timeout=timeout,
                ignore_queue=True,
            )  # fmt: skip
        if not server.async_handlers:
            raise RuntimeError("Cannot use call() when async_handlers is False.")
        return await self.call(event, data, to=to, sid=sid, namespace=namespace, timeout=timeout)

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
            await self._emit_here(
                event, data, namespace, room=target, skip_sid=skip_sid, callback=callback
            )
            return
        call_id, answer = self._reply_queue().expect()
        call = self._call_message(call_id, event, data, namespace, target, skip_sid, None)
        try:
            await self._publish_call(call)
        except BaseException:
            self._reply_queue().forget(call_id)
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
            self._reply_queue().forget(call.id)
        if not reply.ok:
            log.info("callback for %r to %s not called: %s", call.event, call.room, reply.message)
            return
        result = callback(*(reply.value or []))
        if inspect.isawaitable(result):
            await result

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
            await self._emit_here(event, data, namespace, room=sid, callback=acked)
            async with asyncio.timeout(timeout):
                return await answer
        except TimeoutError:
            raise CallTimedOut(f"{sid} did not answer {event!r} within {timeout:g}s") from None
        finally:
            waits.discard(answer)
            if not waits:
                self._local_waits.pop((namespace, sid), None)

    def _fail_local_calls(self, namespace: str, sid: str) -> None:
        """``sid`` of this server left: its pending calls fail now (or wait out their
        timeout, with ``fail_on_disconnect=False``)."""
        for waiting in self._local_waits.pop((namespace, sid), set()):
            if self.fail_on_disconnect and not waiting.done():
                waiting.set_exception(SidDisconnected(f"{sid} left before answering"))

    async def _call_there(
        self, event: str, data: Any, namespace: str, target: str, timeout: float | None
    ) -> list[Any]:
        replies = self._reply_queue()
        call_id, answer = replies.expect()
        call = self._call_message(call_id, event, data, namespace, target, None, timeout)
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
            replies.forget(call_id)

    def _call_message(  # noqa: PLR0917  # private, every argument is needed
        self,
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
        key = sio_room_key(call.namespace, call.room)
        try:
            try:
                await self.bus.publish(key, call, mandatory=True, ttl=call.timeout)
            except ProtocolError:
                await self.bus.publish(key, self._as_json(call), mandatory=True, ttl=call.timeout)
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

    async def _enter_there(self, sid: str, namespace: str, room: str) -> None:
        """Confirmed: once this returns, the sid's server is bound to the room's key, so an
        emit to the room made next reaches it (a fire-and-forget op could lose that race)."""
        replies = self._reply_queue()
        call_id, answer = replies.expect()
        op = SioRoomOp(
            op="enter",
            host=self.host_id,
            namespace=namespace,
            room=room,
            sid=sid,
            id=call_id,
            reply_to=replies.reply_to,
        )
        try:
            async with asyncio.timeout(self.control_timeout):
                try:
                    await self.bus.publish(sio_room_key(namespace, sid), op, mandatory=True)
                except Unroutable:
                    raise SidOffline(f"{sid} is not connected to any server") from None
                except BrokerUnavailable as exc:
                    raise CallBrokerDown(str(exc)) from None
                reply = await answer
        except TimeoutError:
            raise CallTimedOut(f"{sid}'s server did not confirm entering {room!r}") from None
        finally:
            replies.forget(call_id)
        if not reply.ok:
            raise reply_error(reply.error, reply.message)
