"""The job-queue contract (``eventwire.jobs``), the same bodies on memory:// and on RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import msgpack

from eventwire import codec
from eventwire.bus import Bus
from eventwire.jobs import JobDelivery, JobQueue
from eventwire.memory.jobs import MemoryJobQueue
from eventwire.protocol import Job, JobUser
from eventwire.settings import Settings
from eventwire.topology import Topology, task_key

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


async def put_raw(jobs: JobQueue, settings: Settings, body: bytes) -> None:
    """Put bytes straight into the job queue, as a foreign or buggy producer would."""
    if isinstance(jobs, MemoryJobQueue):
        jobs.put_back(body, 0)
        return
    connection = await aio_pika.connect(settings.amqp_url.split(",")[0])
    async with connection:
        channel = await connection.channel()
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        queue = Topology(settings.namespace).jobs.name
        await channel.default_exchange.publish(message, queue, mandatory=True)


async def test_an_invalid_job_is_dead_lettered_and_frees_its_slot(
    bus: Bus, bus_settings: Settings
) -> None:
    jobs = await queue_on(bus)
    started: asyncio.Queue[JobDelivery] = asyncio.Queue()

    async def like_a_worker(delivery: JobDelivery) -> None:
        task_key(delivery.job.id)  # what a worker binds while the job runs
        await started.put(delivery)

    await jobs.consume(like_a_worker, prefetch=1)  # one slot: a wedged job blocks the next
    fields = job().model_dump(mode="python")
    over_long = msgpack.packb({"v": codec.VERSION, **fields, "id": "j" * 300}, use_bin_type=True)
    await put_raw(jobs, bus_settings, over_long)
    await put_raw(jobs, bus_settings, b"\xc1 not msgpack")
    following = job(1)
    await jobs.submit(following)
    delivery = await asyncio.wait_for(started.get(), WAIT)
    assert delivery.job == following
    await delivery.ack()
    dead = sorted(await jobs.take_dead(), key=lambda d: d.error)
    assert [d.job for d in dead] == [None, None]
    assert "id: " in dead[0].error and "250-byte limit" in dead[0].error
    assert "undecodable" in dead[1].error
