"""Relayed runs: a process that is not an edge node hands runs to the workers and serves them.

An Open WebUI Function (``services/worker/openwebui/eventwire_workers.py``) cannot let workers
reach the user's tabs directly: Open WebUI holds those sockets. So it submits each run with
``Job.relay = run.<id>`` and binds ``run.<id>`` to its own queue for as long as the run lasts.
The worker's ``__event_emitter__`` and ``__event_call__`` then publish to that key (one routed
hop, never fanout), and this relay replays them through the Function's own
``__event_emitter__`` / ``__event_call__``; Open WebUI carries them to the right tab, on one
replica or many. Streamed text comes back as the run's output, so Open WebUI saves the answer.
With Open WebUI on ``EventwireManager``, a run may carry a ``DirectRoute``: the workers then
send its display-only events and its calls straight to the tabs (``direct.py``).

Guarantees: events of one run reach the Function's emitter in the order the worker sent them;
calls run concurrently with events; a run whose Function stops (the user pressed Stop, Open WebUI
cancelled it) is stopped on its worker; with no worker running, or no broker, ``run`` fails at
once with a clear ``EventwireError``; a run the worker stays silent on for ``idle_timeout``
ends with ``CallTimeout``. What one run may hold in memory is bounded in bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .backends import open_bus
from .bus import Bus, Inbox
from .calls import Caller
from .client import new_process_id
from .codec import packed_size
from .dispatch import Dispatcher
from .protocol import (
    CallCancel,
    CallReply,
    CallRequest,
    DirectRoute,
    Emit,
    Job,
    JobUser,
    ListModels,
    StopTask,
)
from .settings import Settings
from .tasks import TaskSet
from .topology import WORKERS_KEY, run_key, task_key

log = logging.getLogger(__name__)

Emitter = Callable[[dict[str, Any]], Awaitable[Any]]
Asker = Callable[[dict[str, Any]], Awaitable[Any]]

MODELS_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0
STOP_DRAIN = (
    30.0  # seconds a stopped run's last events may still be relayed (ends at its final one)
)
MAX_RUN_BYTES = 16 * 1024 * 1024  # events of one run waiting for the Function, at most
DELTA_TYPES = frozenset({"chat:message:delta", "message"})
FINAL_TYPE = "chat:completion"


@dataclass
class _Run:
    emit: Emitter
    ask: Asker
    items: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    waiting_bytes: int = 0
    calls: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    overflow: bool = False


class RunRelay:
    """One per process: a queue of its own, a caller for the workers, the runs it serves."""

    def __init__(self, settings: Settings, *, bus: Bus | None = None) -> None:
        self.settings = settings
        self.bus = bus or open_bus(settings)
        self._owns_bus = bus is None
        self.process_id = f"relay-{new_process_id()}"
        self._caller = Caller(self.bus, self.process_id)
        self._jobs = self.bus.job_queue()
        self._runs: dict[str, _Run] = {}
        self._inbox: Inbox | None = None
        self._tasks = TaskSet("relay")
        self._dispatch = Dispatcher("relay queue")
        self._dispatch.on(Emit, self._on_emit)
        self._dispatch.on(CallRequest, self._on_call)
        self._dispatch.on(CallCancel, self._on_cancel)
        self._started = False
        self.late_events = 0  # events for a run that already ended here (counted, not kept)

    async def start(self) -> None:
        if self._started:
            return
        if self._owns_bus:
            await self.bus.start()
        await self._caller.start()
        await self._jobs.start()
        spec = self.bus.topology.reply_queue(self.process_id + "-runs")
        self._inbox = await self.bus.open_inbox(spec, self._dispatch)
        self._started = True

    async def close(self) -> None:
        await self._tasks.close()
        await self._caller.close()
        if self._owns_bus:
            await self.bus.close()
        self._started = False

    @property
    def runs(self) -> int:
        """Runs this relay serves right now."""
        return len(self._runs)

    async def models(self) -> list[dict[str, Any]]:
        """The worker pool's models (``[{"id", "name"}, ...]``); raises when no worker runs."""
        reply = await self._request(
            WORKERS_KEY, lambda i, r: ListModels(id=i, reply_to=r), MODELS_TIMEOUT
        )
        if not reply.ok:
            raise errors.error_from_code(reply.error or "plugin_error", reply.message)
        return list(reply.value or [])

    async def run(
        self,
        *,
        model: str,
        body: dict[str, Any],
        user: JobUser,
        emit: Emitter,
        ask: Asker,
        chat_id: str | None = None,
        message_id: str | None = None,
        session_id: str | None = None,
        idle_timeout: float = 600.0,
        direct: DirectRoute | None = None,
    ) -> AsyncIterator[str]:
        """Run ``model`` on a worker; yield its streamed text; relay its events and calls
        (those ``direct`` names go from the worker straight to the tabs: ``eventwire.direct``).

        Raises ``BrokerUnavailable``, ``SessionOffline`` (no worker runs), ``CallTimeout``
        (the worker was silent for ``idle_timeout``) or the error the run ended with.
        """
        if self._inbox is None:
            raise errors.BrokerUnavailable("the relay is not started")
        await self.models()  # no worker: fail now, not after a job waits in the queue forever
        job_id = uuid.uuid4().hex
        key = run_key(job_id)
        run = _Run(emit, ask)
        self._runs[key] = run
        await self._inbox.bind(key)
        finished = False
        try:
            job = Job(
                id=job_id,
                type="completion",
                plugin=model,
                body=body,
                user=user,
                session_id=session_id,
                chat_id=chat_id,
                message_id=message_id,
                relay=key,
                direct=direct,
            )
            await self._jobs.submit(job)
            while True:
                try:
                    async with asyncio.timeout(idle_timeout):
                        event = await run.items.get()
                except TimeoutError:
                    raise errors.CallTimeout(
                        f"the worker running {model} sent nothing for {idle_timeout:g}s"
                    ) from None
                run.waiting_bytes -= event.pop("_bytes", 0)
                if run.overflow:
                    raise errors.PayloadTooLarge(
                        f"the run's events outgrew the relay's {MAX_RUN_BYTES}-byte bound"
                    )
                kind, data = event.get("type"), event.get("data")
                if kind in DELTA_TYPES and isinstance(data, dict):
                    text = data.get("content")
                    if isinstance(text, str) and text:
                        yield text
                    continue
                if kind == FINAL_TYPE and isinstance(data, dict) and data.get("done"):
                    finished = True
                    error = data.get("error")
                    if isinstance(error, dict) and error.get("content"):
                        raise errors.PluginError(str(error["content"]))
                    return
                await run.emit(event)
        finally:
            for task in run.calls.values():
                task.cancel()
            if finished:
                await self._forget(key)
            else:  # Stop pressed (cancelled), timed out, or failed: stop the worker's run,
                # and relay what its plugin still says while it stops (e.g. that it saw it).
                self._tasks.spawn(self._stop(key, run, job_id, user), name=f"stop:{job_id}")

    # -- what the workers send -----------------------------------------------------------

    async def _on_emit(self, key: str, message: Emit) -> None:
        run = self._runs.get(key)
        if run is None:
            self.late_events += 1  # the run ended here; its worker is being stopped
            return
        event = message.payload.get("data")
        if not isinstance(event, dict):
            return
        size = packed_size(event)
        if run.waiting_bytes + size > MAX_RUN_BYTES:
            run.overflow = True  # the run ends with a named error; nothing is dropped silently
        run.waiting_bytes += size
        run.items.put_nowait({**event, "_bytes": size})

    async def _on_call(self, key: str, request: CallRequest) -> None:
        run = self._runs.get(key)
        if run is None:
            await self._reply(request, error=errors.SessionOffline("the run has ended"))
            return
        task = self._tasks.spawn(self._ask(run, request), name=f"relay-call:{request.id}")
        run.calls[request.id] = task
        task.add_done_callback(lambda _t: run.calls.pop(request.id, None))

    async def _on_cancel(self, key: str, message: CallCancel) -> None:
        run = self._runs.get(key)
        task = run.calls.get(message.id) if run is not None else None
        if task is not None:
            task.cancel()

    async def _ask(self, run: _Run, request: CallRequest) -> None:
        event = request.payload.get("data")
        try:
            async with asyncio.timeout(request.timeout):
                value = await run.ask(event if isinstance(event, dict) else {})
        except TimeoutError:
            await self._reply(request, error=errors.CallTimeout("the user did not answer in time"))
            return
        if isinstance(value, dict) and set(value) <= {"error", "code"} and "error" in value:
            await self._reply(request, error=errors.ClientError(str(value["error"])))
            return
        await self._reply(request, value=value)

    async def _reply(
        self, request: CallRequest, *, value: Any = None, error: errors.EventwireError | None = None
    ) -> None:
        reply = (
            CallReply(id=request.id, ok=True, value=value)
            if error is None
            else CallReply(id=request.id, ok=False, error=error.code, message=error.message)
        )
        try:
            await self.bus.send(request.reply_to, reply)
        except errors.EventwireError as exc:
            log.warning("relay reply to call %s lost: %s", request.id, exc)

    # -- requests to workers -------------------------------------------------------------

    async def _forget(self, key: str) -> None:
        self._runs.pop(key, None)
        if self._inbox is not None:
            with contextlib.suppress(errors.EventwireError):
                await self._inbox.unbind(key)

    async def _stop(self, key: str, run: _Run, job_id: str, user: JobUser) -> None:
        def build(call_id: str, reply_to: str) -> StopTask:
            return StopTask(
                id=call_id, task_id=job_id, user_id=user.id, role=user.role, reply_to=reply_to
            )

        try:
            try:
                try:
                    reply = await self._request(task_key(job_id), build, STOP_TIMEOUT)
                except errors.NotFound:
                    # Not running yet (queued): every worker remembers the stop, and the one
                    # that takes the job drops it unrun.
                    reply = await self._request(WORKERS_KEY, build, STOP_TIMEOUT)
            except errors.EventwireError as exc:  # finished meanwhile, or the broker is gone
                log.info("stop of relayed run %s not delivered: %s", job_id, exc)
                return
            if not reply.ok:
                log.info("stop of relayed run %s: %s", job_id, reply.message)
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_DRAIN):
                    while True:  # until the stopped run's final event
                        event = await run.items.get()
                        event.pop("_bytes", None)
                        kind, data = event.get("type"), event.get("data")
                        if kind == FINAL_TYPE and isinstance(data, dict) and data.get("done"):
                            return
                        if kind not in DELTA_TYPES:
                            with contextlib.suppress(Exception):  # Open WebUI's emitter
                                await run.emit(event)
        finally:
            await self._forget(key)

    async def _request(
        self, key: str, build: Callable[[str, str], Any], timeout: float
    ) -> CallReply:
        try:
            return await self._caller.request(key, build, timeout)
        except errors.Unroutable:
            if key == WORKERS_KEY:
                raise errors.SessionOffline(
                    "no eventwire worker is running: start one with `eventwire worker`"
                ) from None
            raise errors.NotFound(f"nothing answers {key}") from None
        except TimeoutError:
            raise errors.CallTimeout(f"no answer from {key} within {timeout:g}s") from None
