"""The worker's job handler: runs a job once, parks the poison ones, hands back on drain."""

from __future__ import annotations

import uuid
from pathlib import Path

from eventwire import codec
from eventwire.memory import MemoryJobQueue
from eventwire.protocol import Job, JobUser
from eventwire_worker.plugins import load_plugins
from eventwire_worker.settings import WorkerSettings
from eventwire_worker.worker import Worker
from tests.support.tabs import eventually

PIPE = """
class Pipe:
    def pipe(self, body):
        return "ok"
"""


def worker_on(tmp_path: Path, **settings: object) -> Worker:
    (tmp_path / "echo.py").write_text(PIPE)
    values = {"amqp_url": f"memory://{uuid.uuid4().hex}", "namespace": "unit", **settings}
    return Worker(WorkerSettings(**values), load_plugins(tmp_path))


def job(plugin: str = "echo") -> Job:
    return Job(
        id=uuid.uuid4().hex,
        type="completion",
        plugin=plugin,
        body={"messages": []},
        user=JobUser(id="alice"),
    )


async def test_a_job_runs_once_and_is_acknowledged(tmp_path: Path) -> None:
    worker = worker_on(tmp_path)
    await worker.start()
    try:
        await worker.jobs.submit(job())
        await eventually(lambda: worker.stats.completed == 1)
        assert (worker.stats.started, worker.stats.failed, worker.stats.running) == (1, 0, {})
    finally:
        await worker.close()


async def test_a_job_delivered_too_often_is_dead_lettered_unrun(tmp_path: Path) -> None:
    worker = worker_on(tmp_path, job_max_attempts=2)
    await worker.start()
    try:
        queue = worker.jobs
        assert isinstance(queue, MemoryJobQueue)
        # As if two workers had died running it: its third delivery is over the limit.
        queue.put_back(codec.encode(job()), deliveries=2)
        await eventually(lambda: worker.stats.abandoned == 1)
        dead = await queue.take_dead()
        assert len(dead) == 1 and "abandoned after 2 deliveries" in dead[0].error
        assert worker.stats.started == 0
    finally:
        await worker.close()


async def test_a_failing_run_is_dead_lettered_with_its_error(tmp_path: Path) -> None:
    worker = worker_on(tmp_path)
    await worker.start()
    try:
        await worker.jobs.submit(job(plugin="no_such_model"))
        await eventually(lambda: worker.stats.failed == 1)
        dead = await worker.jobs.take_dead()
        assert [d.job.plugin for d in dead if d.job] == ["no_such_model"]
    finally:
        await worker.close()
