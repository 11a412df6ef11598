"""The job-queue seam: durable, acknowledged-after-the-run work for pipeline workers.

Each backend owns one: ``eventwire.memory`` (one process) and ``eventwire.amqp`` (a RabbitMQ
quorum queue); a bus hands out its own with ``Bus.job_queue()``.
At-least-once: a job is acknowledged only after its run ends; a worker that dies mid-run leaves
it unacknowledged and the broker hands it to another worker, with ``attempt`` counting up.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple, Protocol

from .protocol import Job


class JobDelivery(Protocol):
    job: Job
    attempt: int  # 1 on first delivery

    @property
    def redelivered(self) -> bool: ...

    async def ack(self) -> None:
        """The run ended (well or with an error the user was shown)."""

    async def requeue(self) -> None:
        """Hand the job back for another worker (drain)."""

    async def dead_letter(self, error: str) -> None:
        """Park the job with its error in the dead-letter queue; it will not run again."""


JobHandler = Callable[[JobDelivery], Coroutine[Any, Any, None]]


class DeadJob(NamedTuple):
    job: Job | None  # None when the body itself could not be decoded
    error: str
    attempts: int


class JobQueue(Protocol):
    async def start(self) -> None: ...

    async def submit(self, job: Job) -> None:
        """Durably enqueue; returns once the broker has it."""

    async def consume(self, handler: JobHandler, prefetch: int) -> None:
        """Deliver jobs to ``handler``, at most ``prefetch`` unacknowledged at a time."""

    async def stop_consuming(self) -> None:
        """Take no new jobs; those already delivered stay ours until acked or requeued."""

    async def take_dead(self, limit: int = 100) -> list[DeadJob]:
        """Remove and return dead-lettered jobs (operators, tests)."""
