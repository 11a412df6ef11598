"""Serving ``__event_call__`` on an edge node: one task per call, owned by its session.

A ``CallRequest`` routed here is asked of its socket with ``sio.call`` (the timeout it
carries, less what it already waited when it is asked again after a recovery); the answer, or
the named error that prevented one, goes straight back to the caller's reply queue as a
``CallReply``. A session that disconnects answers its calls at once (``client_disconnected``),
or, when its tab may come back (recovery), leaves them to be asked again where it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import socketio

from eventwire import errors
from eventwire.codec import packed_size
from eventwire.events import not_json
from eventwire.logs import bind_log_context
from eventwire.metrics import CALL_BUCKETS, Histogram
from eventwire.protocol import CallCancel, CallReply, CallRequest
from eventwire.tasks import TaskSet

if TYPE_CHECKING:
    from .node import EdgeNode

log = logging.getLogger(__name__)


class Calls:
    def __init__(self, node: EdgeNode) -> None:
        self._node = node
        # session id -> call id -> (request, task asking it)
        self._by_session: dict[str, dict[str, tuple[CallRequest, asyncio.Task[None]]]] = {}
        self.outcomes: Counter[str] = Counter()  # "ok" or the error code, read by metrics.py
        self.seconds = Histogram(CALL_BUCKETS)
        self._tasks = TaskSet("edge-calls")

    def task(self, sid: str, call_id: str) -> asyncio.Task[None] | None:
        """The task asking ``sid`` the call ``call_id``, while it does."""
        pending = self._by_session.get(sid, {}).get(call_id)
        return pending[1] if pending is not None else None

    def in_flight(self) -> list[asyncio.Task[None]]:
        return [task for calls in self._by_session.values() for _, task in calls.values()]

    def pending(self) -> int:
        return sum(len(calls) for calls in self._by_session.values())

    def sessions(self) -> list[str]:
        return list(self._by_session)

    async def close(self) -> None:
        await self._tasks.close()

    async def cancel(self, _key: str, message: CallCancel) -> None:
        pending = self._by_session.get(message.session_id, {}).get(message.id)
        if pending is not None:
            pending[1].cancel()

    async def serve(
        self, _key: str, request: CallRequest, settle: Callable[[], None] | None = None
    ) -> None:
        """Ask the session; ``settle`` runs once an answer (or error) is sent for it."""
        identity = self._node.identity(request.session_id)
        if self._node.draining and identity is not None:
            self._fail(
                request,
                errors.ClientDisconnected(
                    f"edge node {self._node.node_id} is draining: session {request.session_id} is "
                    "about to reconnect elsewhere (as a new session)"
                ),
                settle,
            )
            return
        if identity is None:
            self._fail(
                request,
                errors.SessionOffline(f"session {request.session_id} is not connected here"),
                settle,
            )
            return
        if identity.id != request.user_id:
            self._fail(
                request,
                errors.PermissionDenied(
                    f"session {request.session_id} does not belong to user {request.user_id}"
                ),
                settle,
            )
            return
        where = not_json(request.payload)
        if where is not None:  # python-socketio would fail inside a task and wait for the timeout
            self._fail(
                request,
                errors.EventValidationError(f"call payload: {where} is NaN or Infinity"),
                settle,
            )
            return
        self._node.stats.calls_served += 1
        task = asyncio.create_task(self._ask(request, settle), name=f"call:{request.id}")
        calls = self._by_session.setdefault(request.session_id, {})
        calls[request.id] = (request, task)

        def forget(_: asyncio.Task[None]) -> None:
            calls.pop(request.id, None)
            if not calls and self._by_session.get(request.session_id) is calls:
                del self._by_session[request.session_id]

        task.add_done_callback(forget)

    async def _ask(self, request: CallRequest, settle: Callable[[], None] | None = None) -> None:
        bind_log_context(user_id=request.user_id, session_id=request.session_id)
        started = time.monotonic()
        timeout = request.timeout
        if request.at is not None:  # asked again after a reconnect: only what is left of it
            timeout = min(timeout, request.at + request.timeout - time.time())
        timed_out = errors.CallTimeout(
            f"session {request.session_id} did not answer within {request.timeout:g}s"
        )
        if timeout <= 0:
            await self._reply(request, error=timed_out)
        else:
            try:
                value = await self._node.sio.call(
                    request.event, request.payload, to=request.session_id, timeout=timeout
                )
            except socketio.exceptions.TimeoutError:
                self.seconds.observe(time.monotonic() - started)
                await self._reply(request, error=timed_out)
            else:
                self.seconds.observe(time.monotonic() - started)
                await self._reply(request, value=value)
        if settle is not None:
            settle()

    def _fail(
        self,
        request: CallRequest,
        error: errors.EventwireError,
        settle: Callable[[], None] | None = None,
    ) -> None:
        async def reply() -> None:
            await self._reply(request, error=error)
            if settle is not None:
                settle()

        self._tasks.spawn(reply())

    async def _reply(
        self,
        request: CallRequest,
        *,
        value: Any = None,
        error: errors.EventwireError | None = None,
    ) -> None:
        if error is None:
            error = self._checked(value)
        if error is None:
            reply = CallReply(id=request.id, ok=True, value=value)
            self._node.stats.calls_answered += 1
            self.outcomes["ok"] += 1
        else:
            reply = CallReply(id=request.id, ok=False, error=error.code, message=error.message)
            self._node.stats.calls_failed += 1
            self.outcomes[error.code] += 1
        try:
            await self._node.bus.send(request.reply_to, reply)
        except errors.EventwireError as exc:
            log.warning(
                "reply to call %s (session %s) lost: %s", request.id, request.session_id, exc
            )

    def _checked(self, value: Any) -> errors.EventwireError | None:
        if isinstance(value, dict) and set(value) == {"error"} and isinstance(value["error"], str):
            return errors.ClientError(value["error"])
        try:
            size = packed_size(value)
        except errors.ProtocolError as exc:
            return errors.ClientError(f"client answer is not serialisable: {exc}")
        limit = self._node.settings.max_payload_bytes
        if size > limit:
            return errors.ClientError(f"client answer is {size} bytes, over the {limit} limit")
        return None

    async def abort(self, sid: str, why: str, *, answer: bool = True) -> None:
        """Stop waiting on the session's calls; ``answer``: fail them (``client_disconnected``),
        else leave them unanswered (a recoverable session: they are asked again)."""
        calls = self._by_session.pop(sid, {})
        for request, task in list(calls.values()):  # answered tasks leave `calls`
            if task.done():
                continue  # already answered
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if answer:
                await self._reply(request, error=errors.ClientDisconnected(why))
