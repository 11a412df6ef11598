"""The caller's side of callbacks and calls: one reply queue per process, correlation ids.

Unlike ``eventwire.calls.Caller`` the publish and the wait are separate steps, because an
``emit(..., callback=)`` must fail at once when nobody holds the sid (the mandatory publish)
yet return without waiting for the answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from eventwire.bus import Bus, Inbox
from eventwire.protocol import CallReply, Message
from eventwire.topology import QueueSpec

from .errors import CallBrokerDown

log = logging.getLogger(__name__)


class Replies:
    def __init__(self, bus: Bus, spec: QueueSpec) -> None:
        self._bus = bus
        self._spec = spec
        self._inbox: Inbox | None = None
        self._pending: dict[str, asyncio.Future[CallReply]] = {}
        self.late = 0  # answers that came after their caller stopped waiting

    @property
    def reply_to(self) -> str:
        return self._spec.name

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._inbox = await self._bus.open_inbox(self._spec, self._on_reply)
        # Replies sent while the connection is down are lost: fail the waits, never hang.
        self._bus.on_connection_lost(self.fail_all)

    def expect(self) -> tuple[str, asyncio.Future[CallReply]]:
        call_id = uuid.uuid4().hex
        future: asyncio.Future[CallReply] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        return call_id, future

    def forget(self, call_id: str) -> None:
        self._pending.pop(call_id, None)

    def fail_all(self) -> None:
        for call_id, future in list(self._pending.items()):
            if not future.done():
                lost = CallBrokerDown(f"broker connection lost during call {call_id}")
                future.set_exception(lost)

    async def _on_reply(self, _key: str, message: Message) -> None:
        if not isinstance(message, CallReply):
            log.warning("socket.io reply queue got a %s message; dropped", message.kind)
            return
        future = self._pending.pop(message.id, None)
        if future is None or future.done():
            self.late += 1
            log.debug("dropped answer to call %s: nobody waits for it", message.id)
            return
        future.set_result(message)
