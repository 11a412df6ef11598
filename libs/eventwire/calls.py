"""The caller's side of ``__event_call__``: correlation ids, one reply queue, timeouts.

A call publishes a ``CallRequest`` to ``session.<sid>`` with ``mandatory`` (no edge holds the
session: ``SessionOffline`` at once) and a TTL of the timeout (it never reaches a client after
the caller gave up). Replies for calls no longer waiting are dropped; nothing is retained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from .arguments import call_timeout
from .bus import Bus, Inbox
from .errors import (
    BrokerUnavailable,
    CallTimeout,
    SessionOffline,
    Unroutable,
    error_from_code,
)
from .protocol import CallCancel, CallReply, CallRequest, Message
from .tasks import TaskSet
from .topology import session_key

log = logging.getLogger(__name__)


class Caller:
    def __init__(self, bus: Bus, process_id: str) -> None:
        self._bus = bus
        self._process_id = process_id
        self._pending: dict[str, asyncio.Future[CallReply]] = {}
        self._background = TaskSet("caller")
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
        await self._background.close()

    async def call(
        self,
        *,
        user_id: str,
        session_id: str,
        payload: dict[str, Any],
        timeout: float,
        route: str | None = None,
    ) -> Any:
        """Ask ``session_id`` (published to ``session.<sid>``, or to ``route`` for a relayed
        run) and return its answer; raises the named error the far side reported."""

        def build(call_id: str, reply_to: str) -> Message:
            return CallRequest(
                id=call_id,
                user_id=user_id,
                session_id=session_id,
                payload=payload,
                timeout=timeout,
                reply_to=reply_to,
                at=time.time(),
            )

        def cancel(call_id: str) -> Message:
            return CallCancel(id=call_id, session_id=session_id)

        key = route or session_key(session_id)
        return await self.ask(key, build, timeout, cancel, target=f"session {session_id}")

    async def ask(
        self,
        key: str,
        build: Callable[[str, str], Message],
        timeout: float,
        cancel: Callable[[str], Message] | None = None,
        *,
        target: str,
    ) -> Any:
        """``request``, answered with the reply's value or the named error: ``SessionOffline``
        at once when nothing is bound to ``key``, ``CallTimeout``, or what the far side
        reported. ``target`` names who was asked, in the errors."""
        try:
            reply = await self.request(key, build, timeout, cancel)
        except Unroutable:
            raise SessionOffline(f"{target} is not connected to any edge") from None
        except TimeoutError:
            raise CallTimeout(f"{target} did not answer within {timeout:g}s") from None
        if reply.ok:
            return reply.value
        raise error_from_code(reply.error or "call_error", reply.message)

    async def request(
        self,
        key: str,
        build: Callable[[str, str], Message],
        timeout: float,
        cancel: Callable[[str], Message] | None = None,
    ) -> CallReply:
        """Publish ``build(id, reply_to)`` to ``key`` (mandatory, TTL) and await its reply.

        Raises ``Unroutable`` at once when nothing is bound to ``key``, ``TimeoutError``, or
        ``BrokerUnavailable``. On timeout or cancellation ``cancel(id)`` is sent to ``key``.
        """
        if self._inbox is None:
            raise BrokerUnavailable("eventwire is not connected: call connect() first")
        timeout = call_timeout(timeout)  # RabbitMQ refuses a larger expiration: lose no link
        call_id = uuid.uuid4().hex
        future: asyncio.Future[CallReply] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            async with asyncio.timeout(timeout):
                await self._bus.publish(
                    key, build(call_id, self._inbox.name), mandatory=True, ttl=timeout
                )
                return await future
        except (TimeoutError, asyncio.CancelledError):
            # e.g. a plugin wrapped us in asyncio.wait_for: tell the far side to stop waiting.
            if cancel is not None:
                self._send_later(key, cancel(call_id))
            raise
        finally:
            self._pending.pop(call_id, None)

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
                    BrokerUnavailable(f"broker unreachable: connection lost during call {call_id}")
                )

    def _send_later(self, key: str, message: Message) -> None:
        async def send() -> None:
            # If this is lost, the far side's own timeout still ends the wait.
            with contextlib.suppress(BrokerUnavailable, Unroutable):
                await self._bus.publish(key, message)

        self._background.spawn(send(), name=f"cancel:{key}")
