"""``/metrics`` of an edge and a worker parse as Prometheus text and count what the test sent;
``/healthz`` is liveness, ``/readyz`` readiness (same bodies on memory:// and RabbitMQ)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from eventwire_worker import Worker, load_plugins
from eventwire_worker.metrics import MetricsServer
from tests.deploy.contract import METRICS
from tests.support.cluster import Cluster, token
from tests.support.http import get, post
from tests.support.tabs import Refused, Tab, eventually

PLUGINS = Path(__file__).parent.parent / "plugins"


def families(names: dict[str, str]) -> dict[str, str]:
    """Contract names as the parser reports families (a counter's without ``_total``)."""
    return {name.removesuffix("_total"): kind for name, kind in names.items()}


# The contract (deploy/README.md, read by tests/deploy): the worker's own, and what the edge
# and the worker (through its SDK client) both expose.
JOBS = {"eventwire_jobs_total", "eventwire_jobs_running", "eventwire_job_seconds"}
BOTH = {
    "eventwire_events_in_total",
    "eventwire_events_out_total",
    "eventwire_call_seconds",
    "eventwire_calls_total",
    "eventwire_outbox_depth",
    "eventwire_broker_connected",
    "eventwire_broker_reconnects_total",
    "eventwire_presence_sessions",
}
EDGE = families({name: kind for name, kind in METRICS.items() if name not in JOBS})
WORKER = families({name: kind for name, kind in METRICS.items() if name in JOBS | BOTH})


class Scrape:
    """One parsed ``/metrics`` answer."""

    def __init__(self, text: str) -> None:
        self.types = {}
        self.samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for s in family.samples:
                self.samples[(s.name, tuple(sorted(s.labels.items())))] = s.value

    def __call__(self, name: str, **labels: str) -> float:
        """A sample's value; a counter or label value never incremented reads 0."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(url: str) -> Scrape:
    status, text, headers = await get(f"{url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    return Scrape(text)


def note(text: str) -> dict[str, Any]:
    return {"type": "notification", "data": {"type": "info", "content": text}}


async def test_edge_metrics_count_what_was_sent(cluster: Cluster) -> None:
    a, b = await cluster.edge(), await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(a, "alice")

    async def confirm(data: dict[str, Any]) -> Any:
        return data["data"]["type"] == "confirmation"

    alice.answer = confirm
    for i in range(7):
        await ew.emit(note(f"n{i}"), user_id="alice")
    answer = await ew.call(
        {"type": "confirmation", "data": {"title": "ok?"}},
        user_id="alice",
        session_id=alice.sid,
    )
    assert answer is True
    await alice.client.emit("no-such-event", {})
    await alice.wait_for_error()
    await alice.wait_for(lambda events: len(events) == 8)

    m = await scrape(a.url)
    assert {name: m.types[name] for name in EDGE} == EDGE
    assert m("eventwire_events_in_total", kind="emit") == 7
    assert m("eventwire_events_in_total", kind="call") == 1
    assert m("eventwire_events_out_total", kind="emit") == 7
    assert m("eventwire_events_out_total", kind="call") == 1
    assert m("eventwire_delivery_seconds_count") == 7
    assert m("eventwire_delivery_seconds_bucket", le="+Inf") == 7
    assert m("eventwire_calls_total", outcome="ok") == 1
    assert m("eventwire_call_seconds_count") == 1
    assert m("eventwire_connections") == 1
    assert m("eventwire_bound_keys") == 2  # session.<sid>, user.alice
    assert m("eventwire_client_refusals_total", reason="unknown_event") == 1
    assert m("eventwire_broker_connected") == 1
    assert m("eventwire_outbox_depth") == 0
    # The SDK client counts its side of the same traffic.
    assert ew.stats.emits == 7 and ew.stats.calls == {"ok": 1}

    # Each node has a registry of its own: nothing of a's traffic shows on b.
    other = await scrape(b.url)
    assert other("eventwire_events_out_total", kind="emit") == 0
    assert other("eventwire_connections") == 0
    await eventually(lambda: a.node.presence.replica.view.session(alice.sid) is not None)


async def test_liveness_readiness_and_no_new_sockets_while_draining(cluster: Cluster) -> None:
    edge = await cluster.edge(drain_delay=3600, edge_drain_grace=7200)
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    assert (await get(f"{edge.url}/readyz"))[0] == 200
    assert (await get(f"{edge.url}/healthz"))[0] == 200

    draining = asyncio.create_task(edge.drain())
    try:
        await eventually(lambda: edge.node.draining)
        status, body, _ = await get(f"{edge.url}/readyz")
        assert (status, body["status"], body["draining"]) == (503, "unavailable", True)
        assert (await get(f"{edge.url}/healthz"))[0] == 200
        bob = Tab(edge.url, token("bob"), name="bob")
        cluster.tabs.append(bob)
        with pytest.raises(Refused):  # the handshake gets HTTP 503: the client may retry
            await bob.connect()
        # Until the balancers have taken the node out, its sockets are served as before.
        await ew.emit(note("still here"), user_id="alice")
        await alice.wait_for_content(note("still here")["data"])
    finally:
        draining.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await draining


@pytest.fixture
async def worker(cluster: Cluster) -> AsyncIterator[tuple[Worker, MetricsServer]]:
    w = Worker(cluster.settings, load_plugins(PLUGINS))
    await w.start()
    server = MetricsServer(w, "127.0.0.1", 0)
    await server.start()
    try:
        yield w, server
    finally:
        await server.close()
        await w.close()


async def test_worker_metrics_count_its_runs_and_its_events(
    cluster: Cluster, worker: tuple[Worker, MetricsServer]
) -> None:
    w, server = worker
    edge = await cluster.edge()
    alice = await cluster.tab(edge, "alice")

    async def yes(data: dict[str, Any]) -> Any:
        return data["data"]["type"] == "confirmation"

    alice.answer = yes
    form = {"model": "asker", "messages": [], "session_id": alice.sid, "ask": "confirmation"}
    status, _ = await post(f"{edge.url}/api/chat/completions", form, token=token("alice"))
    assert status == 200
    await alice.wait_for(
        lambda events: any(
            e["data"]["type"] == "chat:completion" and e["data"]["data"].get("done") for e in events
        )
    )
    await eventually(lambda: w.stats.completed == 1 and not w.stats.running)  # the run is over
    emitted = len(alice.events) - 1  # all but the confirmation, which was a call

    m = await scrape(server.url)
    assert {name: m.types[name] for name in WORKER} == WORKER
    assert m("eventwire_jobs_total", outcome="ok") == 1
    assert m("eventwire_jobs_total", outcome="error") == 0
    assert m("eventwire_events_in_total", kind="job") == 1
    assert m("eventwire_jobs_running") == 0
    assert m("eventwire_job_seconds_count") == 1
    assert m("eventwire_events_out_total", kind="emit") == emitted
    assert m("eventwire_events_out_total", kind="call") == 1
    assert m("eventwire_calls_total", outcome="ok") == 1
    assert m("eventwire_call_seconds_count") == 1
    assert m("eventwire_broker_connected") == 1
    # ... and the edge delivered exactly that.
    e = await scrape(edge.url)
    assert e("eventwire_events_out_total", kind="emit") == emitted
    assert e("eventwire_calls_total", outcome="ok") == 1

    assert (await get(f"{server.url}/healthz"))[0] == 200
    status, body, _ = await get(f"{server.url}/readyz")
    assert (status, body["status"]) == (200, "ok")
    await w.drain(0)
    status, body, _ = await get(f"{server.url}/readyz")
    assert (status, body["draining"]) == (503, True)
    assert (await get(f"{server.url}/healthz"))[0] == 200
