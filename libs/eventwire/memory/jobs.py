"""The job queue in one process: same contract (acks, redelivery count, dead letters)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import codec
from ..errors import ProtocolError
from ..jobs import DeadJob, JobHandler
from ..protocol import Job
from ..tasks import TaskSet

if TYPE_CHECKING:
    from .bus import MemoryBus

log = logging.getLogger(__name__)


@dataclass
class _Shared:
    ready: deque[tuple[bytes, int]] = field(default_factory=deque)  # body, deliveries so far
    dead: list[DeadJob] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


_QUEUES: dict[str, _Shared] = {}


class MemoryDelivery:
    def __init__(self, queue: MemoryJobQueue, body: bytes, job: Job, deliveries: int) -> None:
        self._queue = queue
        self._body = body
        self.job = job
        self.attempt = deliveries
        self._settled = False

    @property
    def redelivered(self) -> bool:
        return self.attempt > 1

    @property
    def settled(self) -> bool:
        return self._settled

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        self._queue.release()
        return True

    async def ack(self) -> None:
        self._settle()

    async def requeue(self) -> None:
        if self._settle():
            self._queue.put_back(self._body, self.attempt)

    async def dead_letter(self, error: str) -> None:
        if self._settle():
            self._queue.shared.dead.append(DeadJob(self.job, error, self.attempt))


class MemoryJobQueue:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self.shared = _QUEUES.setdefault(bus.broker_key, _Shared())
        self._slots: asyncio.Semaphore | None = None
        self._task: asyncio.Task[None] | None = None
        self._runs = TaskSet("memory job queue")

    async def start(self) -> None:
        """Nothing to declare in one process."""

    async def submit(self, job: Job) -> None:
        self.shared.ready.append((codec.encode(job, self._bus.max_payload), 0))
        self.shared.arrived.set()

    def put_back(self, body: bytes, deliveries: int) -> None:
        self.shared.ready.appendleft((body, deliveries))
        self.shared.arrived.set()

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def consume(self, handler: JobHandler, prefetch: int) -> None:
        self._slots = asyncio.Semaphore(prefetch)
        self._task = asyncio.create_task(self._pump(handler, self._slots))

    async def stop_consuming(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _pump(self, handler: JobHandler, slots: asyncio.Semaphore) -> None:
        while True:
            await slots.acquire()
            while not self.shared.ready:
                self.shared.arrived.clear()
                await self.shared.arrived.wait()
            body, deliveries = self.shared.ready.popleft()
            try:
                message = codec.decode(body)
                if not isinstance(message, Job):
                    raise ProtocolError(f"a {message.kind} message is not a job")
            except ProtocolError as exc:
                self.shared.dead.append(DeadJob(None, str(exc), deliveries + 1))
                slots.release()
                continue
            delivery = MemoryDelivery(self, body, message, deliveries + 1)
            self._runs.spawn(_guarded(handler, delivery), name=f"job:{message.id}")

    async def take_dead(self, limit: int = 100) -> list[DeadJob]:
        taken, self.shared.dead[:limit] = self.shared.dead[:limit], []
        return taken


async def _guarded(handler: JobHandler, delivery: MemoryDelivery) -> None:
    """As on RabbitMQ: a handler that breaks before settling its job parks it, freeing the slot."""
    try:
        await handler(delivery)
    except Exception as exc:
        log.exception("job %s broke its handler", delivery.job.id)
        if not delivery.settled:
            await delivery.dead_letter(f"handler failed: {type(exc).__name__}: {exc}")
