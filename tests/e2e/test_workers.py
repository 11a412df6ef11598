"""Workers as separate processes: at-least-once, poison jobs, stop from anywhere, drain."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from eventwire import Eventwire, Settings
from eventwire_worker.service import EXAMPLES as EXAMPLES_DIR
from tests.support.cluster import token
from tests.support.http import post
from tests.support.procs import EdgeProc
from tests.support.tabs import Tab

from .conftest import Processes
from .test_cluster import tab

pytestmark = pytest.mark.e2e

PLUGINS = str(Path(__file__).parent.parent / "plugins")
EXAMPLES = str(EXAMPLES_DIR)


async def submit(edge: EdgeProc, t: Tab, model: str, **body: Any) -> str:
    form = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "session_id": t.sid,
        "chat_id": "c1",
        "id": f"m-{model}",
        **body,
    }
    status, answer = await post(f"{edge.url}/api/chat/completions", form, token=token(t.name))
    assert status == 200, answer
    return str(answer["task_id"])


def of_type(t: Tab, kind: str) -> list[Any]:
    return [e["data"]["data"] for e in t.events if e["data"]["type"] == kind]


def done_events(t: Tab) -> list[dict[str, Any]]:
    return [d for d in of_type(t, "chat:completion") if d.get("done")]


async def until_done(t: Tab, count: int = 1) -> dict[str, Any]:
    await t.wait_for(lambda _: len(done_events(t)) >= count)
    return done_events(t)[-1]


async def started_on(t: Tab, count: int = 1) -> list[dict[str, Any]]:
    await t.wait_for(lambda _: len([s for s in of_type(t, "status") if "worker" in s]) >= count)
    return [s for s in of_type(t, "status") if "worker" in s]


async def sentinel(env: dict[str, str], t: Tab) -> None:
    settings = Settings(amqp_url=env["AMQP_URL"], namespace=env["EVENTWIRE_NAMESPACE"])
    async with Eventwire(settings) as ew:
        await ew.emit({"type": "chat:title", "data": "sentinel"}, user_id=t.name)
    await t.wait_for_content("sentinel")


async def dead_jobs(env: dict[str, str]) -> list[Any]:
    settings = Settings(amqp_url=env["AMQP_URL"], namespace=env["EVENTWIRE_NAMESPACE"])
    async with Eventwire(settings) as ew:
        jobs = ew.bus.job_queue()
        await jobs.start()
        return await jobs.take_dead()


async def test_every_example_event_reaches_the_user_across_processes(
    processes: Processes, env: dict[str, str]
) -> None:
    edge = await processes.edge(env)
    await processes.worker({**env, "EVENTWIRE_PLUGINS_DIR": EXAMPLES})
    alice = await tab(processes, edge, "alice")
    await submit(edge, alice, "showcase")
    final = await until_done(alice)
    assert final["content"].startswith("Hello, alice! Every event kind is on its way.")
    kinds = set(alice.types())
    assert kinds >= {
        "status",
        "source",
        "citation",
        "chat:message:delta",
        "chat:message:files",
        "chat:title",
        "chat:tags",
        "chat:message:favorite",
        "execute",
        "notification",
        "chat:message",
        "chat:completion",
    }
    hidden = [s for s in of_type(alice, "status") if s.get("hidden")]
    assert hidden == [{"description": "Internal step", "hidden": True}]


async def test_worker_killed_mid_run_the_job_completes_on_another(
    processes: Processes, env: dict[str, str]
) -> None:
    env = {**env, "EVENTWIRE_PLUGINS_DIR": PLUGINS}
    edge = await processes.edge(env)
    first = await processes.worker(env, "worker-1")
    alice = await tab(processes, edge, "alice")
    await submit(edge, alice, "slow", seconds=1.0)
    [start] = await started_on(alice)
    assert start["worker"] == first.worker_id
    assert start["redelivered"] is False

    first.kill()  # SIGKILL mid-run: the job was never acknowledged
    await first.wait()
    second = await processes.worker(env, "worker-2")
    starts = await started_on(alice, 2)
    assert starts[1]["worker"] == second.worker_id
    assert (starts[1]["attempt"], starts[1]["redelivered"]) == (2, True)
    final = await until_done(alice)
    assert final["content"].endswith("finished attempt=2 redelivered=True")


async def test_poison_job_is_dead_lettered_not_retried_forever(
    processes: Processes, env: dict[str, str]
) -> None:
    env = {**env, "EVENTWIRE_PLUGINS_DIR": PLUGINS, "EVENTWIRE_JOB_MAX_ATTEMPTS": "2"}
    edge = await processes.edge(env)
    alice = await tab(processes, edge, "alice")
    task_id = await submit(edge, alice, "crash")
    for attempt in (1, 2):  # each worker that takes it dies
        worker = await processes.worker(env, f"worker-{attempt}")
        await alice.wait_for(
            lambda _, n=attempt: any(
                s["description"] == f"crashing attempt {n}" for s in of_type(alice, "status")
            )
        )
        assert await worker.wait() == -signal.SIGKILL
    await processes.worker(env, "worker-3")  # sees attempt 3 > 2: parks it with the reason
    final = await until_done(alice)
    assert "abandoned after 2 deliveries" in final["error"]["content"]
    [dead] = await dead_jobs(env)
    assert dead.job.id == task_id
    assert "abandoned after 2 deliveries" in dead.error


async def test_stop_from_another_edge_node(processes: Processes, env: dict[str, str]) -> None:
    env = {**env, "EVENTWIRE_PLUGINS_DIR": PLUGINS}
    a = await processes.edge(env, "edge-a")
    b = await processes.edge(env, "edge-b")
    await processes.worker(env)
    alice = await tab(processes, a, "alice")
    task_id = await submit(a, alice, "slow")
    await started_on(alice)

    status, body = await post(f"{b.url}/api/tasks/stop/{task_id}", token=token("bob"))
    assert status == 403, body
    status, body = await post(f"{b.url}/api/tasks/stop/{task_id}", token=token("alice"))
    assert status == 200, body
    final = await until_done(alice)
    assert "finished" not in final["content"]
    assert of_type(alice, "chat:tasks:cancel") == [{}]


async def test_sigterm_drains(processes: Processes, env: dict[str, str]) -> None:
    env = {
        **env,
        "EVENTWIRE_PLUGINS_DIR": PLUGINS,
        "EVENTWIRE_WORKER_CONCURRENCY": "2",
        "EVENTWIRE_DRAIN_GRACE": "1.5",
    }
    edge = await processes.edge(env)
    first = await processes.worker(env, "worker-1")
    alice = await tab(processes, edge, "alice")
    bob = await tab(processes, edge, "bob")
    await submit(edge, alice, "slow", seconds=0.5)  # finishes inside the grace period
    await submit(edge, bob, "slow", seconds=3600)  # does not: handed back
    await started_on(alice)
    await started_on(bob)

    first.signal(signal.SIGTERM)
    assert await first.wait() == 0
    assert (await until_done(alice))["content"].endswith("finished attempt=1 redelivered=False")
    await sentinel(env, bob)  # anything the drained worker sent bob arrived before this
    assert done_events(bob) == []  # handed back, not ended: the user sees no stop

    second = await processes.worker(env, "worker-2")
    starts = await started_on(bob, 2)
    assert (starts[1]["worker"], starts[1]["attempt"]) == (second.worker_id, 2)


async def test_sigterm_with_sync_plugin_code_running_exits_and_hands_the_job_back(
    processes: Processes, env: dict[str, str], tmp_path: Path
) -> None:
    """A thread cannot be cancelled: after the grace the worker exits for real, and the job
    runs again elsewhere only once its first run's code is gone with that process."""
    env = {**env, "EVENTWIRE_PLUGINS_DIR": PLUGINS, "EVENTWIRE_DRAIN_GRACE": "0.5"}
    markers = tmp_path / "markers.jsonl"
    edge = await processes.edge(env)
    first = await processes.worker(env, "worker-1")
    alice = await tab(processes, edge, "alice")
    await submit(edge, alice, "blocking", markers=str(markers))
    [start] = await started_on(alice)
    assert start["worker"] == first.worker_id
    second = await processes.worker(env, "worker-2")  # idle, ready to take a handed-back job

    first.signal(signal.SIGTERM)
    assert await first.wait() == 0  # exits although its thread never returns
    final = await until_done(alice)
    assert final["content"] == "done attempt=2"
    starts = await started_on(alice, 2)
    assert (starts[1]["worker"], starts[1]["attempt"]) == (second.worker_id, 2)

    runs = [json.loads(line) for line in markers.read_text().splitlines()]
    assert [(r["event"], r["attempt"]) for r in runs] == [("start", 1), ("start", 2), ("end", 2)]
    assert [r["pid"] for r in runs] == [first.pid, second.pid, second.pid]
    assert not any(r["overlapped"] for r in runs)  # run 1's code was gone when run 2 began
    assert len(done_events(alice)) == 1
