"""The benchmark harness at its smallest against the real broker: well-formed results, not speed."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiormq
import pytest

from eventwire.settings import Settings
from eventwire.topology import Topology
from tests.bench import floors, report, runner, scenarios
from tests.bench.lab import Options

pytestmark = pytest.mark.e2e


async def test_harness_produces_well_formed_results(amqp_url: str, tmp_path: Path) -> None:
    opts = Options(
        amqp_url=amqp_url,
        clients=20,
        load_procs=1,
        ks=(1,),
        rate=200.0,
        rate_seconds=1.0,
        burst=300,
        window=20,
    )
    results = await runner.run(opts, {"emit"}, {"eventwire"})
    run = results["emit"]["eventwire"]["1"]
    assert run["at_rate"]["undelivered"] == 0
    assert run["at_rate"]["latency_ms"]["n"] == run["at_rate"]["sent"] > 0
    assert run["max"]["throughput"] > 0
    names = [t["name"] for t in results["targets"]]
    assert len(names) == len(set(names)) == 15
    assert all({"name", "measured", "threshold", "holds"} <= set(t) for t in results["targets"])
    hop = results["floors"]["hop"]
    assert hop["rabbitmq"]["n"] == hop["redis"]["n"] == 200  # every publish arrived, each
    assert hop["rabbitmq"]["latency_ms"]["p99"] > 0 < hop["redis"]["latency_ms"]["p99"]
    table = runner.write(results, tmp_path, "smoke")
    assert "| 1 |" in table
    assert "RabbitMQ hop" in table
    assert (tmp_path / "smoke.png").stat().st_size > 0


async def test_manager_scenarios_produce_well_formed_results(amqp_url: str) -> None:
    """python-socketio servers on EventwireManager: emits from, and calls by, a worker."""
    opts = Options(
        amqp_url=amqp_url,
        clients=20,
        load_procs=1,
        ks=(1,),
        rate=200.0,
        rate_seconds=1.0,
        burst=300,
        window=20,
        call_rate=50.0,
        call_seconds=1.0,
    )
    results = await runner.run(opts, {"emit"}, {"manager"})
    run = results["emit"]["manager"]["1"]
    assert run["at_rate"]["undelivered"] == 0
    assert run["max"]["throughput"] > 0
    assert any(name.startswith("sio") for name in run["max"]["cpu_us_per_event"])
    assert "EventwireManager" in report.markdown(results)
    calls = await scenarios.calls(opts, "manager")
    assert calls["answered"] == calls["attempted"] > 0
    assert not calls["errors"]


async def test_the_mailbox_floor_attaches_real_mailboxes_and_leaves_none(amqp_url: str) -> None:
    namespace = f"ewbench-floor-{uuid.uuid4().hex[:8]}"
    sids = [f"floor-{i}" for i in range(40)]
    floor = await floors.mailbox_floor(amqp_url, namespace, len(sids), sids)
    assert floor["mailboxes"] == 40 and floor["per_s"] > 0
    settings, topology = Settings(), Topology(namespace)
    connection = await aiormq.connect(amqp_url)
    try:
        for sid in (sids[0], sids[-1]):
            name = topology.mailbox(
                sid,
                expires_s=settings.recovery_window,
                max_events=settings.recovery_max_events,
                max_bytes=settings.recovery_max_bytes,
            ).name
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
                await channel.queue_declare(name, passive=True)
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await channel.exchange_declare(topology.events.name, passive=True)
    finally:
        await connection.close()


async def test_the_connections_scenario_weighs_connecting_and_disconnecting(amqp_url: str) -> None:
    opts = Options(amqp_url=amqp_url, load_procs=1, conn_sizes=(40,))
    results = await runner.run(opts, {"connections"}, {"eventwire"})
    for system in ("eventwire", "socketio"):
        run = results["connections"][system]["40"]
        assert run["connects_per_s"] > 0
        assert run["closed"] == 41  # every client closed, and the one that warmed the server
        assert run["disconnect_cpu_s"] >= 0
    assert results["floors"]["mailbox"]["per_s"] > 0


async def test_the_storm_scenario_kills_one_edge_and_drains_another(amqp_url: str) -> None:
    opts = Options(amqp_url=amqp_url, load_procs=1, storm_clients=30)
    results = await runner.run(opts, {"storm"}, {"eventwire"})
    killed, drained = results["storm"]["eventwire"], results["drain"]["eventwire"]
    for run in (killed, drained):
        assert run["reconnected"] == run["recovered"] == 30  # every tab, as the same session
        assert run["undelivered"] == 0
    assert killed["how"] == "kill" and killed["exited_seconds"] is None
    assert drained["how"] == "drain" and drained["exited_seconds"] is not None
    assert "**Rolling restart**" in report.markdown(results)
