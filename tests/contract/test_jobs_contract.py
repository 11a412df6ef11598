"""The job-queue contract (``eventwire.jobs``), the same bodies on memory:// and on RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid

from eventwire.bus import Bus
from eventwire.jobs import JobDelivery, JobQueue
from eventwire.protocol import Job, JobUser

from .conftest import OpenBus

WAIT = 10.0  # safety net only


def job(n: int = 0) -> Job:
    return Job(
        id=uuid.uuid4().hex,
        type="completion",
        plugin=f"pipe{n}",
        body={},
        user=JobUser(id="alice"),
    )


class Taken:
    def __init__(self) -> None:
        self.items: asyncio.Queue[JobDelivery] = asyncio.Queue()

    async def __call__(self, delivery: JobDelivery) -> None:
        await self.items.put(delivery)

    async def next(self) -> JobDelivery:
        return await asyncio.wait_for(self.items.get(), WAIT)


async def queue_on(bus: Bus) -> JobQueue:
    jobs = bus.job_queue()
    await jobs.start()
    return jobs


async def test_a_submitted_job_is_delivered_once_on_its_first_attempt(bus: Bus) -> None:
    jobs = await queue_on(bus)
    taken = Taken()
    await jobs.consume(taken, prefetch=1)
    submitted = job()
    await jobs.submit(submitted)
    delivery = await taken.next()
    assert delivery.job == submitted
    assert delivery.attempt == 1 and not delivery.redelivered
    await delivery.ack()


async def test_a_requeued_job_comes_back_as_a_redelivery(buses: OpenBus) -> None:
    submitter = await queue_on(await buses())
    first = await queue_on(await buses())
    taken = Taken()
    await first.consume(taken, prefetch=1)
    submitted = job()
    await submitter.submit(submitted)
    delivery = await taken.next()
    await delivery.requeue()
    again = await taken.next()
    assert again.job == submitted
    assert again.attempt == 2 and again.redelivered
    await again.ack()


async def test_prefetch_bounds_unacknowledged_jobs(bus: Bus) -> None:
    jobs = await queue_on(bus)
    taken = Taken()
    await jobs.consume(taken, prefetch=2)
    for n in range(3):
        await jobs.submit(job(n))
    one, two = await taken.next(), await taken.next()
    assert taken.items.empty()  # the third waits for a slot
    await one.ack()
    three = await taken.next()
    assert {d.job.plugin for d in (one, two, three)} == {"pipe0", "pipe1", "pipe2"}
    await two.ack()
    await three.ack()


async def test_dead_lettered_jobs_keep_their_error(bus: Bus) -> None:
    jobs = await queue_on(bus)
    taken = Taken()
    await jobs.consume(taken, prefetch=1)
    submitted = job()
    await jobs.submit(submitted)
    delivery = await taken.next()
    await delivery.dead_letter("ValueError: boom")
    dead = await jobs.take_dead()
    assert [(d.job, d.error, d.attempts) for d in dead] == [(submitted, "ValueError: boom", 1)]
    assert await jobs.take_dead() == []


async def test_stop_consuming_takes_no_new_jobs(buses: OpenBus) -> None:
    stopping = await queue_on(await buses())
    taken = Taken()
    await stopping.consume(taken, prefetch=1)
    await stopping.stop_consuming()
    other = await queue_on(await buses())
    later = Taken()
    await other.consume(later, prefetch=1)
    submitted = job()
    await stopping.submit(submitted)
    delivery = await later.next()
    assert delivery.job == submitted
    assert taken.items.empty()
    await delivery.ack()
