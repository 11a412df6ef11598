"""Emit to and call the clients of python-socketio servers on ``EventwireManager``, from any
eventwire process and without python-socketio: the manager's own wire (``SioEmit`` to a
room's key, ``SioCall`` published ``mandatory`` to a sid's key), as a write-only manager
sends it. A worker uses it to reach Open WebUI's tabs when Open WebUI runs on the manager.

Guarantees are the manager's (README "python-socketio servers on eventwire"): an emit reaches
only the servers holding members of the room and is buffered through a broker outage; a call
fails at once with ``SessionOffline`` when no server holds the sid, with
``ClientDisconnected`` as soon as the sid leaves, with ``CallTimeout`` after its timeout.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .arguments import call_timeout
from .protocol import CallCancel, SioCall, SioEmit
from .sio_wire import as_args, result_of
from .topology import sio_room_key

if TYPE_CHECKING:
    from .client import Eventwire


class SioPeer:
    """A write-only peer of the servers sharing this client's broker and namespace."""

    def __init__(self, client: Eventwire) -> None:
        self.client = client
        # Never a server's host id: every server holding members delivers the emit.
        self.host = f"peer-{uuid.uuid4().hex[:12]}"

    async def emit(self, event: str, data: Any, *, room: str, namespace: str = "/") -> None:
        """``sio.emit(event, data, room=room)``: to every member of ``room`` (or the sid)."""
        message = SioEmit(
            host=self.host, namespace=namespace, event=event, args=as_args(data), rooms=[room]
        )
        await self.client.publish(sio_room_key(namespace, room), message)

    async def call(
        self, event: str, data: Any, *, to: str, timeout: float, namespace: str = "/"
    ) -> Any:
        """``sio.call(event, data, to=sid, timeout=timeout)``: the client's acknowledgement."""
        seconds = call_timeout(timeout)
        key = sio_room_key(namespace, to)

        def build(call_id: str, reply_to: str) -> SioCall:
            return SioCall(
                id=call_id,
                namespace=namespace,
                event=event,
                args=as_args(data),
                room=to,
                reply_to=reply_to,
                timeout=seconds,
            )

        def cancel(call_id: str) -> CallCancel:
            return CallCancel(id=call_id, session_id=to)

        value = await self.client.ask(key, build, seconds, cancel, target=f"sid {to}")
        return result_of(value or [])
