"""SIGTERM an edge under a stream of emits, HAProxy (deploy/haproxy) in front of two edges.

The drained edge's tabs reconnect through HAProxy to the other edge and every event of the
stream reaches every tab exactly once, in order; readiness turns 503 before any socket is told
to leave; a call in flight finishes, one that is never answered fails with a named reason.
A worker process serves /metrics, /healthz and /readyz and turns unready when it drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.haproxy import HaproxyProc, free_port
from tests.support.cluster import token
from tests.support.http import get
from tests.support.procs import EdgeProc
from tests.support.tabs import Tab, eventually

from .conftest import Processes, http_json
from .test_cluster import tab as cluster_tab
from .test_workers import PLUGINS, started_on, submit

pytestmark = pytest.mark.e2e

USERS = ("ann", "ben", "cat")
SAFETY = 60.0  # a net for awaits that must end; never a measure of speed


def delta(user: str, seq: int) -> dict[str, Any]:
    return {"type": "notification", "data": {"type": "info", "content": f"{user} {seq}"}}


def seqs(tab: Tab) -> list[int]:
    return [
        int(e["data"]["data"]["content"].split()[1])
        for e in tab.events
        if e["data"]["type"] == "notification"
    ]


@pytest.fixture
async def haproxy(processes: Processes) -> AsyncIterator[list[HaproxyProc]]:
    # Stopped after the clients behind it have closed, before the edges (`processes` outlives
    # it): clients that lost their balancer first would be left reconnecting.
    started: list[HaproxyProc] = []
    yield started
    for tab in processes.tabs:
        await tab.disconnect()
    for proc in started:
        await proc.stop()


def balancer(edges: list[EdgeProc], log: Path, *, admin: bool = False) -> HaproxyProc:
    """deploy/haproxy/haproxy.cfg in front of these edges, on free loopback ports."""
    env = {
        "HAPROXY_BIND": f"127.0.0.1:{free_port()}",
        "HAPROXY_STATS_BIND": f"127.0.0.1:{free_port()}",
        **{f"EDGE{i}": e.url.removeprefix("http://") for i, e in enumerate(edges, start=1)},
    }
    return HaproxyProc(env, log, admin=admin)


async def place(edges: list[EdgeProc]) -> list[int]:
    counts = []
    for edge in edges:
        _, stats = await http_json(f"{edge.url}/stats")
        counts.append(stats["sessions"])
    return counts


async def test_sigterm_hands_sockets_to_the_other_edge_losing_nothing(
    processes: Processes, env: dict[str, str], haproxy: list[HaproxyProc], tmp_path: Path
) -> None:
    edge_env = {
        **env,
        # The handoff between nodes, for deployments without recovery (with it, a drain is a
        # transport drop each tab recovers from: tests/integration/test_recovery.py).
        "EVENTWIRE_RECOVERY_WINDOW": "0",
        "EVENTWIRE_DRAIN_GRACE": "8",
        "EVENTWIRE_LOG_LEVEL": "INFO",
        "EVENTWIRE_LOG_FORMAT": "json",
    }
    edges = [await processes.edge(edge_env, "edge-1"), await processes.edge(edge_env, "edge-2")]
    sender = await processes.sender(env)
    lb = balancer(edges, tmp_path / "haproxy.log")
    haproxy.append(lb)
    await lb.start()
    await eventually(lambda: _both_up(lb), within=SAFETY)

    # What the test sees, in the order it sees it: readiness of the edge to drain, sockets.
    seen: list[tuple[str, Any]] = []

    def changed(tab: Tab, what: str) -> None:
        seen.append((what, tab.name))

    tabs: list[Tab] = []
    where: dict[str, int] = {}  # tab name -> index of the edge it first landed on
    # leastconn alternates: ann on both edges, ben on the one to drain, cat on the other.
    for name in ("ann-0", "ann-1", "ben-0", "cat-0", "ben-1", "cat-1"):
        before = await place(edges)
        tab = Tab(lb.url, token(name[:3]), name=name, reconnection=True, on_change=changed)
        processes.tabs.append(tab)
        tabs.append(await tab.connect())
        after = await place(edges)
        where[name] = next(i for i in range(2) if after[i] > before[i])
    drained = where["ben-0"]
    leaving = [t for t in tabs if where[t.name] == drained]
    staying = [t for t in tabs if where[t.name] != drained]
    assert leaving and staying  # HAProxy's leastconn spread them over both edges

    # Two calls in flight on the edge to drain: one is answered while it drains, one never.
    answer_now = asyncio.Event()

    async def later(data: dict[str, Any]) -> Any:
        if data["data"]["type"] == "confirmation":
            await answer_now.wait()
            return {"confirmed": True}
        return None

    async def never(data: dict[str, Any]) -> Any:
        if data["data"]["type"] == "confirmation":
            await asyncio.Event().wait()
        return None

    confirm = {"type": "confirmation", "data": {"title": "Go?", "message": "Sure?"}}
    calls = []
    for tab, answer in zip(leaving[:2], (later, never), strict=False):
        tab.answer = answer
        calls.append(
            asyncio.create_task(
                sender.request("call", user=tab.name.split("-")[0], session=tab.sid, event=confirm)
            )
        )
    for tab in leaving[:2]:
        await asyncio.wait_for(tab.calls.get(), SAFETY)

    stop_stream = asyncio.Event()
    sent = dict.fromkeys(USERS, 0)

    async def stream() -> None:
        # One emit at a time, so the publish order is the order of `seq`.
        while not stop_stream.is_set():
            for user in USERS:
                reply = await sender.request("emit", user=user, event=delta(user, sent[user]))
                assert reply == {"ok": True}
                sent[user] += 1

    async def watch_readiness() -> None:
        url = f"{edges[drained].url}/readyz"
        while True:
            try:
                status, _ = await http_json(url)
            except (aiohttp.ClientError, OSError):
                return  # the drained edge is gone
            if not seen or seen[-1] != ("ready", status):
                seen.append(("ready", status))
            if status == 503:
                answer_now.set()  # the call in flight is answered while the edge drains
            await asyncio.sleep(0.02)

    streaming = asyncio.create_task(stream())
    await eventually(lambda: all(sent[u] >= 20 for u in USERS), within=SAFETY)
    watcher = asyncio.create_task(watch_readiness())
    await eventually(lambda: ("ready", 200) in seen, within=SAFETY)
    victim = edges[drained]
    os.kill(victim.pid, signal.SIGTERM)
    async with asyncio.timeout(SAFETY):
        code = await victim.proc.wait() if victim.proc is not None else None
    assert code == 0
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher

    for tab in leaving:  # reconnected, through HAProxy, to the other edge
        await eventually(lambda t=tab: t.client.connected and t.connects == 2, within=SAFETY)
    await eventually(lambda: sum(sent.values()) >= 3 * 20 + 60, within=SAFETY)
    stop_stream.set()
    await streaming
    end = dict(sent)
    for tab in tabs:
        user = tab.name.split("-")[0]
        await eventually(lambda t=tab, u=user: end[u] - 1 in seqs(t), within=SAFETY)

    # Every tab got its user's whole stream: nothing lost, nothing twice, in order.
    for tab in tabs:
        user = tab.name.split("-")[0]
        assert seqs(tab) == list(range(end[user])), tab.name
    assert all(t.connects == 1 and t.disconnects == 0 for t in staying)

    # Readiness said 503 before the first socket was told to leave.
    first_unready = seen.index(("ready", 503))
    first_leave = next(i for i, (what, _) in enumerate(seen) if what == "disconnect")
    assert first_unready < first_leave, seen

    answered, failed = await asyncio.gather(*calls)
    assert answered == {"ok": True, "value": {"confirmed": True}}
    assert failed["code"] == "client_disconnected" and "draining" in failed["message"]

    _, stats = await http_json(f"{edges[1 - drained].url}/stats")
    assert stats["sessions"] == len(tabs)
    assert stats["handoffs_received"] >= len({t.name.split("-")[0] for t in leaving})
    assert stats["holds_timed_out"] == stats["handoffs_late"] == 0

    # The edges logged JSON lines, the drained one's naming its node.
    lines = [json.loads(line) for line in victim.stderr_lines if line.strip()]
    draining = [e for e in lines if "draining" in e["message"]]
    assert draining and all(e["node_id"] == victim.node_id for e in draining)


async def _both_up(lb: HaproxyProc) -> bool:
    return set((await lb.servers()).values()) == {"UP"}


async def test_a_worker_process_serves_metrics_and_turns_unready_when_it_drains(
    processes: Processes, env: dict[str, str]
) -> None:
    env = {
        **env,
        "EVENTWIRE_PLUGINS_DIR": PLUGINS,
        "EVENTWIRE_DRAIN_GRACE": "3",
        "EVENTWIRE_LOG_LEVEL": "INFO",
        "EVENTWIRE_LOG_FORMAT": "json",
    }
    edge = await processes.edge(env)
    worker = await processes.worker(env)  # its metrics on a free port (0), named in ready
    assert worker.metrics_url.startswith("http://127.0.0.1:")
    alice = await cluster_tab(processes, edge, "alice")
    task_id = await submit(edge, alice, "slow")  # runs until handed back
    await started_on(alice)

    status, text, _ = await get(f"{worker.metrics_url}/metrics")
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("eventwire_jobs_running", ())] == 1
    assert samples[("eventwire_events_in_total", (("kind", "job"),))] == 1
    assert samples[("eventwire_events_out_total", (("kind", "emit"),))] >= 1
    assert samples[("eventwire_broker_connected", ())] == 1
    assert (await get(f"{worker.metrics_url}/readyz"))[0] == 200

    worker.signal(signal.SIGTERM)
    await eventually(lambda: _status(f"{worker.metrics_url}/readyz", 503), within=SAFETY)
    assert (await get(f"{worker.metrics_url}/healthz"))[0] == 200  # alive while it drains
    assert await worker.wait(SAFETY) == 0

    # Its JSON log lines of the run name the task, the user, the session and the worker.
    lines = [json.loads(line) for line in worker.stderr_lines if line.strip()]
    run = [e for e in lines if e.get("task_id") == task_id]
    assert run and all(
        (e["user_id"], e["session_id"], e["node_id"]) == ("alice", alice.sid, worker.worker_id)
        for e in run
    )


async def _status(url: str, expected: int) -> bool:
    try:
        return (await get(url))[0] == expected
    except (aiohttp.ClientError, OSError):
        return False
