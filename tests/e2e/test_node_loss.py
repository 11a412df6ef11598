"""A 3-node RabbitMQ cluster loses the node every process is connected to, mid-stream.

Two edges, two workers and an SDK sender, each given every node's URL (``AMQP_URL`` lists
them), all on the first. That node is SIGKILLed while emits stream to two tabs, a call waits
for an answer and a job runs: every process fails over to a surviving node, the tabs keep their
sessions, no emit is lost (at-least-once: a few may arrive twice), the call in flight fails with
``broker_unavailable`` and new calls succeed, and the job finishes on some worker. The cluster is
private (``tests.support.rabbit_cluster``); the tabs connect straight to the edges.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import EdgeProc, Proc, SenderProc
from tests.support.rabbit_cluster import RabbitCluster
from tests.support.rabbit_node import RabbitNode
from tests.support.tabs import Tab, eventually

from .conftest import Processes, cluster_env, http_json
from .test_cluster import note, tab, texts
from .test_workers import done_events, started_on, submit

pytestmark = pytest.mark.e2e

log = logging.getLogger(__name__)
PLUGINS = str(Path(__file__).parent.parent / "plugins")
CONFIRM = {"type": "confirmation", "data": {"title": "Still there?"}}


@pytest.fixture
def rabbits() -> Iterator[RabbitCluster]:
    cluster = RabbitCluster(prefix="ewnodeloss")
    try:
        cluster.start()
        log.warning("3-node cluster started in %.1fs", cluster.start_seconds)
        yield cluster
    finally:
        cluster.cleanup()


def local_connections(node: RabbitNode) -> int:
    result = node.ctl("eval", "length(rabbit_networking:connections_local()).", timeout=30)
    return int(result.stdout.strip()) if result.returncode == 0 else -1


async def healthy(edge: EdgeProc) -> bool:
    try:
        status, _ = await http_json(f"{edge.url}/readyz")
    except OSError:
        return False
    return status == 200


class Stream:
    """Numbered emits to each user, paced, until stopped; remembers what the SDK accepted."""

    def __init__(self, sender: SenderProc, users: list[str]) -> None:
        self.sender = sender
        self.users = users
        self.accepted: dict[str, list[str]] = {user: [] for user in users}
        self.refused: list[dict[str, Any]] = []
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            for user in self.users:
                text = f"{user} {n}"
                reply = await self.sender.request("emit", user=user, event=note(text))
                if reply["ok"]:
                    self.accepted[user].append(text)
                else:
                    self.refused.append(reply)
            n += 1
            await asyncio.sleep(0.01)  # pacing, so the kill lands mid-stream

    async def stop(self) -> None:
        self._stop.set()
        await self._task


def delivered(t: Tab) -> list[str]:
    return [text for text in texts(t) if text.startswith(f"{t.name} ")]


async def test_a_cluster_losing_the_node_everyone_is_on(
    processes: Processes, rabbits: RabbitCluster
) -> None:
    env = cluster_env(rabbits.url, EVENTWIRE_PLUGINS_DIR=PLUGINS)
    a = await processes.edge(env, "edge-a")
    b = await processes.edge(env, "edge-b")
    await processes.worker(env, "worker-1")
    await processes.worker(env, "worker-2")
    sender = await processes.sender(env)
    procs: list[Proc] = processes.procs
    doomed, *survivors = rabbits.nodes
    assert local_connections(doomed) == len(procs)  # every process is on the first node

    alice, bob = await tab(processes, a, "alice"), await tab(processes, b, "bob")
    sids = (alice.sid, bob.sid)
    await submit(a, alice, "slow", seconds=5.0)
    await started_on(alice)

    async def never(_data: dict[str, Any]) -> Any:
        await asyncio.Event().wait()

    bob.answer = never
    in_flight = asyncio.create_task(
        sender.request("call", user="bob", session=bob.sid, event=CONFIRM, timeout=3600)
    )
    await asyncio.wait_for(bob.calls.get(), 20)
    stream = Stream(sender, ["alice", "bob"])
    await alice.wait_for(lambda _: len(delivered(alice)) >= 20)
    await bob.wait_for(lambda _: len(delivered(bob)) >= 20)

    killed_at = time.monotonic()
    await asyncio.to_thread(doomed.kill)
    reply = await in_flight
    assert reply["ok"] is False and reply["code"] == "broker_unavailable", reply

    async def all_back() -> bool:
        state = await sender.request("state")
        return state["connected"] and all([await healthy(e) for e in (a, b)])

    await eventually(all_back, within=60)
    failover = time.monotonic() - killed_at
    await eventually(lambda: sum(local_connections(n) for n in survivors) == len(procs), within=60)
    log.warning("every process failed over %.1fs after the kill", failover)

    async def yes(_data: dict[str, Any]) -> Any:
        return "yes"

    bob.answer = yes
    reply = await sender.request("call", user="bob", session=bob.sid, event=CONFIRM, timeout=30)
    assert reply == {"ok": True, "value": "yes"}

    await asyncio.sleep(0.2)  # let a few more emits go out after the failover (pacing only)
    await stream.stop()
    assert stream.refused == []
    for t in (alice, bob):
        last = stream.accepted[t.name][-1]
        await t.wait_for(lambda _, t=t, last=last: last in delivered(t))
        got = delivered(t)
        missing = set(stream.accepted[t.name]) - set(got)
        assert not missing, f"{t.name} lost {len(missing)} emits: {sorted(missing)[:10]}"
        log.warning(
            "%s: %d emits accepted, %d deliveries (%d duplicates)",
            t.name,
            len(stream.accepted[t.name]),
            len(got),
            len(got) - len(set(got)),
        )
    assert (alice.sid, bob.sid) == sids  # sessions never moved

    await alice.wait_for(lambda _: bool(done_events(alice)))  # the job finished
