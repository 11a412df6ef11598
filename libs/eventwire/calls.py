"""The caller's side of ``__event_call__``: correlation ids, one reply queue, timeouts.

A call publishes a ``CallRequest`` to ``session.<sid>`` with ``mandatory`` (no edge holds the
session: ``SessionOffline`` at once) and a TTL of the timeout (it never reaches a client after
the caller gave up). Replies for calls no longer waiting are dropped; nothing is retained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from .bus import Bus, Inbox
from .errors import (
    BrokerUnavailable,
    CallTimeout,
    SessionOffline,
    Unroutable,
    error_from_code,
)
from .protocol import CallCancel, CallReply, CallRequest, Message
from .topology import session_key

log = logging.getLogger(__name__)


class Caller:
    def __init__(self, bus: Bus, process_id: str) -> None:
        self._bus = bus
        self._process_id = process_id
        self._pending: dict[str, asyncio.Future[CallReply]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._inbox: Inbox | None = None
        self.late_replies = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        spec = self._bus.topology.reply_queue(self._process_id)
        self._inbox = await self._bus.open_inbox(spec, self._on_reply)
        self._bus.on_connection_lost(self._fail_all)

    async def close(self) -> None:
        self._fail_all()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def call(
        self, *, user_id: str, session_id: str, payload: dict[str, Any], timeout: float
    ) -> Any:
        if self._inbox is None:
            raise BrokerUnavailable("eventwire is not connected: call connect() first")
        call_id = uuid.uuid4().hex
        request = CallRequest(
            id=call_id,
            user_id=user_id,
            session_id=session_id,
            payload=payload,
            timeout=timeout,
            reply_to=self._inbox.name,
        )
        future: asyncio.Future[CallReply] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            async with asyncio.timeout(timeout):
                await self._bus.publish(
                    session_key(session_id), request, mandatory=True, ttl=timeout
                )
                reply = await future
        except Unroutable:
            raise SessionOffline(f"session {session_id} is not connected to any edge") from None
        except TimeoutError:
            self._cancel_remote(call_id, session_id)
            raise CallTimeout(f"session {session_id} did not answer within {timeout:g}s") from None
        except asyncio.CancelledError:
            # e.g. the plugin wrapped us in asyncio.wait_for: tell the edge to stop waiting.
            self._cancel_remote(call_id, session_id)
            raise
        finally:
            self._pending.pop(call_id, None)
        if reply.ok:
            return reply.value
        raise error_from_code(reply.error or "call_error", reply.message)

    async def _on_reply(self, _key: str, message: Message) -> None:
        if not isinstance(message, CallReply):
            log.warning("reply queue got a %s message; dropped", message.kind)
            return
        future = self._pending.get(message.id)
        if future is None or future.done():
            self.late_replies += 1
            log.debug("dropped reply to call %s: caller no longer waiting", message.id)
            return
        future.set_result(message)

    def _fail_all(self) -> None:
        for call_id, future in list(self._pending.items()):
            if not future.done():
                future.set_exception(
                    BrokerUnavailable(f"broker connection lost during call {call_id}")
                )

    def _cancel_remote(self, call_id: str, session_id: str) -> None:
        async def send() -> None:
            # If this is lost, the edge's own timeout still ends the wait.
            with contextlib.suppress(BrokerUnavailable, Unroutable):
                await self._bus.publish(
                    session_key(session_id), CallCancel(id=call_id, session_id=session_id)
                )

        task = asyncio.create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
