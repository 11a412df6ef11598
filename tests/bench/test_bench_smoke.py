"""The benchmark harness at its smallest against the real broker: well-formed results, not speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import report, runner, scenarios
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
    table = runner.write(results, tmp_path, "smoke")
    assert "| 1 |" in table
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
