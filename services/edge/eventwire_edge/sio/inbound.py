"""What other processes send this server: emits, calls and room operations for its sockets."""

from __future__ import annotations

import logging

from eventwire.dispatch import Dispatcher
from eventwire.errors import CallError, SessionOffline
from eventwire.protocol import CallCancel, CallReply, SioCall, SioDisconnect, SioEmit, SioRoomOp
from eventwire.sio_wire import as_data

from .core import ManagerCore
from .serving import failed

log = logging.getLogger(__name__)


class Inbound(ManagerCore):
    def _routes(self, dispatch: Dispatcher) -> None:
        dispatch.on(SioEmit, self._on_emit)
        dispatch.on(SioCall, self._on_call)
        dispatch.on(CallCancel, self._on_cancel)
        dispatch.on(SioRoomOp, self._on_room_op)
        dispatch.on(SioDisconnect, self._on_disconnect)

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
        await self._emit_here(
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
            answer = self._serving.answer(call.id)
            await self._emit_here(call.event, data, call.namespace, room=sid, callback=answer)

    async def _on_cancel(self, _key: str, message: CallCancel) -> None:
        self._serving.cancel(message.id)

    async def _on_room_op(self, _key: str, op: SioRoomOp) -> None:
        if op.op == "close":
            if op.host != self.host_id:  # the closing server emptied its own part already
                await self._close_here(op.room, op.namespace)
            return
        if op.sid is None or not self._holds_sid(op.namespace, op.sid):
            reply = CallReply(
                id=op.id or "", ok=False, error=SessionOffline.code, message=f"{op.sid} left"
            )
        elif op.op == "enter":
            reply = CallReply(id=op.id or "", ok=True)
            try:
                await self._enter_here(op.sid, op.namespace, op.room)
            except ValueError as exc:  # e.g. python-socketio's "cannot enter a sid room"
                reply = CallReply(id=reply.id, ok=False, error=CallError.code, message=str(exc))
        else:
            await self._leave_here(op.sid, op.namespace, op.room)
            return
        if op.op == "enter" and op.reply_to is not None:
            await self._send_reply(op.reply_to, reply)

    async def _on_disconnect(self, _key: str, message: SioDisconnect) -> None:
        if self.server is not None and self._holds_sid(message.namespace, message.sid):
            await self.server.disconnect(
                message.sid, namespace=message.namespace, ignore_queue=True
            )
