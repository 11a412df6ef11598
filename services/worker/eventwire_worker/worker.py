"""The worker service: takes jobs from the durable queue, runs them, answers stop requests.

At-least-once: a job is acknowledged only after its run ends. A job whose workers died
``job_max_attempts`` times is dead-lettered with that reason; a run that raises is
dead-lettered with its error at once (the user already saw it, a rerun would repeat output).
While a job runs, the worker's control queue is bound to ``task.<id>``, so a stop sent to any
edge node reaches exactly this worker; it is also bound to ``workers``, where any worker
answers which models it offers (the edge's ``GET /api/models``), and where a stop for a task
nobody runs yet arrives: every worker remembers it (``stops``) and the one that takes the job
cancels it instead of running it. SIGTERM drains: no new jobs, running ones get a grace
period, the rest are handed back to the queue — except a run whose plugin code still runs in a
thread (it cannot be stopped): handing that back would run it twice at once, so it stays
ours (``stuck``) until the code returns, or the process exits and the broker takes it back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from eventwire import errors
from eventwire.bus import Inbox
from eventwire.client import Eventwire
from eventwire.dispatch import Dispatcher
from eventwire.jobs import JobDelivery
from eventwire.logs import bind_log_context
from eventwire.metrics import JOB_BUCKETS, Histogram
from eventwire.protocol import CallReply, Job, ListModels, Message, StopTask
from eventwire.tasks import TaskSet
from eventwire.topology import WORKERS_KEY, task_key

from .plugins import Registry
from .runner import Attempt, Runner
from .settings import WorkerSettings
from .stops import QueuedStops
from .threads import RUN_THREADS, ThreadUse

log = logging.getLogger(__name__)


@dataclass
class _Run:
    delivery: JobDelivery
    threads: ThreadUse
    task: asyncio.Task[None] | None = None
    handed_back: bool = False


@dataclass
class WorkerStats:
    started: int = 0
    completed: int = 0
    failed: int = 0
    stopped: int = 0
    abandoned: int = 0  # dead-lettered after too many deliveries
    handed_back: int = 0
    stuck: int = 0  # drained while its code ran in a thread: kept until that returns
    redeliveries: int = 0
    running: dict[str, str] = field(default_factory=dict)  # task id -> plugin


class Worker:
    def __init__(
        self, settings: WorkerSettings, registry: Registry, *, worker_id: str | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.client = Eventwire(settings)
        self.jobs = self.client.bus.job_queue()
        self.runner = Runner(registry, self.client, settings)
        self.stats = WorkerStats()
        self.job_seconds = Histogram(JOB_BUCKETS)  # every run, whatever its outcome
        self.messages_in: Counter[str] = Counter()  # jobs and control messages, by kind
        self._runs: dict[str, _Run] = {}
        self._stuck: dict[str, _Run] = {}  # drained, not handed back: their code still runs
        self._tasks = TaskSet("worker")
        self._control: Inbox | None = None
        self._draining = False
        self._dispatch = Dispatcher(f"worker {self.worker_id} control queue")
        self._dispatch.on(StopTask, self._on_stop)
        self._dispatch.on(ListModels, self._on_list_models)
        self._queued_stops = QueuedStops(settings.queued_stop_ttl)

    async def start(self) -> None:
        await self.client.connect()
        spec = self.client.bus.topology.worker_queue(self.worker_id)
        self._control = await self.client.bus.open_inbox(spec, self._on_control)
        await self._control.bind(WORKERS_KEY)
        await self.jobs.start()
        await self.jobs.consume(self._on_job, prefetch=self.settings.worker_concurrency)
        log.info(
            "worker %s taking jobs (concurrency %d, plugins: %s)",
            self.worker_id,
            self.settings.worker_concurrency,
            ", ".join(sorted(self.registry.plugins)) or "none",
        )

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def ready(self) -> bool:
        """Taking jobs: connected to the broker and not draining."""
        return self.client.bus.connected and not self._draining

    async def drain(self, grace: float | None = None) -> None:
        """Stop taking jobs; let running ones finish within ``grace``; hand back the rest."""
        grace = self.settings.drain_grace if grace is None else grace
        self._draining = True
        await self.jobs.stop_consuming()
        running = [run.task for run in self._runs.values() if run.task is not None]
        if running:
            log.info("draining: %d running jobs get %.0fs to finish", len(running), grace)
            _, late = await asyncio.wait(running, timeout=grace)
            for run in list(self._runs.values()):
                if run.task in late:
                    run.handed_back = True
                    run.task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    @property
    def stuck(self) -> list[str]:
        """Drained jobs not handed back because their plugin code still runs in a thread.

        Unacknowledged: when this process exits the broker hands them to another worker.
        """
        return sorted(self._stuck)

    async def close(self) -> None:
        """Drain (at once unless draining), hand back stuck jobs once their code returned,
        disconnect. A process that must not wait for stuck code exits instead (service)."""
        await self.drain(0 if not self._draining else None)
        for task_id, run in list(self._stuck.items()):
            await run.threads.wait_idle()
            del self._stuck[task_id]
            self.stats.handed_back += 1
            await run.delivery.requeue()
        await self._tasks.close()
        await self.client.close()

    # -- jobs --------------------------------------------------------------------------

    async def _on_job(self, delivery: JobDelivery) -> None:
        job = delivery.job
        self.messages_in[job.kind] += 1
        if self._draining:
            await delivery.requeue()
            return
        if delivery.attempt > self.settings.job_max_attempts:
            self.stats.abandoned += 1
            reason = (
                f"abandoned after {delivery.attempt - 1} deliveries: each ended without an "
                "acknowledgement (the worker running it died)"
            )
            log.error("task %s (%s) %s", job.id, job.plugin, reason)
            await self._tell_user(delivery, reason)
            await delivery.dead_letter(reason)
            return
        run = _Run(delivery, ThreadUse())
        self._runs[job.id] = run
        run.task = self._tasks.spawn(self._run_logged(run), name=f"job:{job.id}")

    async def _run_logged(self, run: _Run) -> None:
        """``_run`` in the job's own task, whose log lines (the plugin's too) name the job."""
        job = run.delivery.job
        bind_log_context(task_id=job.id, user_id=job.user.id, session_id=job.session_id)
        await self._run(run)

    async def _run(self, run: _Run) -> None:
        delivery = run.delivery
        job = delivery.job
        began = time.monotonic()
        self.stats.redeliveries += delivery.redelivered
        self.stats.running[job.id] = job.plugin
        key = task_key(job.id)
        attempt = Attempt(delivery.attempt, delivery.redelivered, self.worker_id)
        started = False
        RUN_THREADS.set(run.threads)  # this task's context: what the run hands to threads
        try:
            if self._control is not None:
                await self._control.bind(key)  # from here on a stop reaches this run
            if self._stopped_while_queued(job):
                await self.runner.cancelled(job)
                self.stats.stopped += 1
                await delivery.ack()
                return
            log.info(
                "task %s: %s %s for user %s (attempt %d)",
                job.id,
                job.type,
                job.plugin,
                job.user.id,
                attempt.number,
            )
            self.stats.started += 1
            started = True
            await self.runner.run(job, attempt, handed_back=lambda: run.handed_back)
        except asyncio.CancelledError:
            if run.handed_back and run.threads.busy:
                self.stats.stuck += 1
                self._stuck[job.id] = run
                log.warning(
                    "task %s: its plugin code still runs in a thread; not handed back while "
                    "this process runs it",
                    job.id,
                )
                raise
            if run.handed_back:
                self.stats.handed_back += 1
                await delivery.requeue()
                raise
            # A user's stop: this task was cancelled on purpose and the run is over, so it
            # ends normally instead of propagating the cancellation.
            if not started:  # stopped while binding: the runner never said so
                await asyncio.shield(self.runner.cancelled(job))
            self.stats.stopped += 1
            await delivery.ack()
            log.info("task %s stopped", job.id)
        except Exception as exc:  # the plugin's failure: shown to the user, parked with its error
            self.stats.failed += 1
            log.warning("task %s failed: %s: %s", job.id, type(exc).__name__, exc)
            await delivery.dead_letter(f"{type(exc).__name__}: {exc}")
        else:
            self.stats.completed += 1
            await delivery.ack()
        finally:
            self.job_seconds.observe(
                time.monotonic() - began
            )  # before it stops counting as running
            self._runs.pop(job.id, None)
            self.stats.running.pop(job.id, None)
            if self._control is not None:
                await self._control.unbind(key)

    def _stopped_while_queued(self, job: Job) -> bool:
        allowed = self._queued_stops.take(job.id, job.user.id)
        if allowed:
            log.info("task %s was stopped before it started: not run", job.id)
        elif allowed is False:
            log.warning("task %s: stops by users other than %s ignored", job.id, job.user.id)
        return bool(allowed)

    async def _tell_user(self, delivery: JobDelivery, reason: str) -> None:
        emit = self.runner.emitter(delivery.job)
        try:
            await emit(
                {
                    "type": "chat:completion",
                    "data": {"done": True, "content": "", "error": {"content": reason}},
                }
            )
        except errors.EventwireError as exc:
            log.warning("could not tell user about task %s: %s", delivery.job.id, exc)

    # -- control -----------------------------------------------------------------------

    async def _on_control(self, key: str, message: Message) -> None:
        self.messages_in[message.kind] += 1
        await self._dispatch(key, message)

    async def _on_stop(self, _key: str, message: StopTask) -> None:
        await self._answer(message, self._stop(message))

    async def _on_list_models(self, _key: str, message: ListModels) -> None:
        await self._answer(message, await self._list_models(message))

    async def _answer(self, message: StopTask | ListModels, reply: CallReply) -> None:
        try:
            await self.client.bus.send(message.reply_to, reply)
        except errors.EventwireError as exc:
            log.warning("%s reply %s lost: %s", message.kind, message.id, exc)

    async def _list_models(self, message: ListModels) -> CallReply:
        try:
            models = await self.registry.models()
        except Exception as exc:  # a manifold's pipes() is plugin code
            log.warning("listing models failed: %s: %s", type(exc).__name__, exc)
            return CallReply(
                id=message.id, ok=False, error=errors.PluginError.code, message=str(exc)
            )
        return CallReply(id=message.id, ok=True, value=models)

    def _stop(self, message: StopTask) -> CallReply:
        """Stop a run of this worker; a stop for a task not running here (sent to every
        worker, or arriving as a run ends) is remembered for when the job is taken."""
        run = self._runs.get(message.task_id)
        if run is None or run.task is None:
            self._queued_stops.add(message.task_id, message.user_id, message.role)
            return CallReply(id=message.id, ok=True, value="queued")
        if run.delivery.job.user.id != message.user_id and message.role != "admin":
            return CallReply(
                id=message.id,
                ok=False,
                error=errors.PermissionDenied.code,
                message=f"task {message.task_id} belongs to another user",
            )
        run.task.cancel()
        return CallReply(id=message.id, ok=True, value="stopped")
