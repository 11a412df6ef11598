"""``python -m tests.bench`` (``make bench``): run the scenarios, write the results."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from yarl import URL

from tests.bench import floors, report, scenarios
from tests.bench.lab import OWUI_PYTHON, ROOT, Options

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("emit", "emitters", "calls", "connections", "storm", "recovery", "soak")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Benchmark eventwire against python-socketio's AsyncAioPikaManager and the "
        "bare floors; writes results/<name>.json, .md and .png. Broker: AMQP_URL (loopback only).",
    )
    p.add_argument("--quick", action="store_true", help="small sizes and short phases (~2 min)")
    p.add_argument(
        "--only", default=",".join(SCENARIOS), help="comma list of " + ", ".join(SCENARIOS)
    )
    p.add_argument(
        "--systems",
        default="eventwire,owui,manager,socketio,floor",
        help="emit systems to run (comma list; owui = Open WebUI's room channels, manager = "
        "python-socketio on EventwireManager)",
    )
    p.add_argument("--ks", default=None, help="edge process counts, e.g. 1,2,4")
    p.add_argument("--clients", type=int, help="connected clients in the emit scenarios")
    p.add_argument("--burst", type=int, help="events per max-throughput burst")
    p.add_argument("--rate-seconds", type=float, help="seconds of the fixed-rate phase")
    p.add_argument("--conn-sizes", help="idle client counts, e.g. 1000,5000")
    p.add_argument("--soak-seconds", type=float, help="soak length (default 120)")
    p.add_argument("--soak-rate", type=float, help="soak events/s (default 500)")
    p.add_argument("--edge-loop", choices=["asyncio", "uvloop"], help="EVENTWIRE_LOOP for edges")
    p.add_argument("--name", default="latest", help="results file stem (default latest)")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def options(args: argparse.Namespace) -> Options:
    url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    host = URL(url).host or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"the benchmark only targets this machine; AMQP_URL host is {host!r}")
    opts = Options(amqp_url=url)
    if args.quick:
        opts.clients, opts.ks, opts.rate_seconds, opts.burst = 200, (1, 2), 3.0, 3000
        opts.call_seconds, opts.conn_sizes, opts.soak_seconds = 3.0, (500,), 15.0
        opts.storm_clients, opts.emitter_counts = 1000, (1, 2)
    if args.ks:
        opts.ks = tuple(int(k) for k in args.ks.split(","))
    if args.conn_sizes:
        opts.conn_sizes = tuple(int(n) for n in args.conn_sizes.split(","))
    for field in ("clients", "burst", "rate_seconds", "soak_seconds", "soak_rate", "edge_loop"):
        value = getattr(args, field)
        if value is not None:
            setattr(opts, field, value)
    return opts


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in (
        "python-socketio",
        "python-engineio",
        "aio-pika",
        "aiormq",
        "aiohttp",
        "msgpack",
        "pydantic",
        "uvloop",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    git = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "packages": versions,
        "git": git or "?",
        "loadavg_before": [round(v, 2) for v in os.getloadavg()],
    }


async def rabbitmq_version(url: str) -> str:
    import aio_pika

    connection = await aio_pika.connect(url)
    async with connection:
        props = connection.transport.connection.server_properties  # type: ignore[union-attr]
        version = props.get("version", "?")
        return version.decode() if isinstance(version, bytes) else str(version)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run(opts: Options, only: set[str], systems: set[str]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {k: v for k, v in vars(opts).items() if k != "amqp_url"},
    }
    results["machine"]["rabbitmq"] = await rabbitmq_version(opts.amqp_url)
    began = time.monotonic()
    if "emit" in only:
        emit: dict[str, dict[str, Any]] = {
            "eventwire": {},
            "owui": {},
            "manager": {},
            "socketio": {},
            "floor": {},
        }
        if "floor" in systems:
            log("emit: python-socketio single process (floor)")
            emit["floor"]["1"] = await scenarios.emit(opts, "floor", 1)
        for k in opts.ks:
            for system in ("eventwire", "owui", "manager", "socketio"):
                if system not in systems:
                    continue
                log(f"emit: {system} K={k}")
                emit[system][str(k)] = await scenarios.emit(opts, system, k)
        results["emit"] = emit
        log(f"floors: one broker hop at {opts.rate:g}/s, RabbitMQ and Redis, bare clients")
        results.setdefault("floors", {})["hop"] = await floors.hop_floor(
            opts.amqp_url, opts.redis_url, _floor_namespace(), opts.rate, opts.rate_seconds
        )
    if "calls" in only:
        log("calls: eventwire __event_call__ and bare aio-pika request/reply")
        results["calls"] = {
            "eventwire": await scenarios.calls(opts),
            "rpc": await scenarios.rpc_floor(opts),
        }
        if "manager" in systems:
            log("calls: call() from a write-only EventwireManager")
            results["calls"]["manager"] = await scenarios.calls(opts, "manager")
    if "connections" in only:
        conns: dict[str, dict[str, Any]] = {"eventwire": {}, "socketio": {}}
        for n in opts.conn_sizes:
            for system, label in (("eventwire", "eventwire"), ("floor", "socketio")):
                log(f"connections: {n} idle clients to one {label} server")
                conns[label][str(n)] = await scenarios.connections(opts, system, n)
        results["connections"] = conns
        n = max(opts.conn_sizes)
        log(f"floors: {n} tabs' mailboxes declared, bound and consumed on the bare broker")
        results.setdefault("floors", {})["mailbox"] = await floors.mailbox_floor(
            opts.amqp_url, _floor_namespace(), n
        )
    await _scaling(opts, only, systems, results)
    if "recovery" in only:
        log("recovery: eventwire with recovery on and off (emit K=2, connections, storm)")
        results["recovery"] = await scenarios.recovery(opts)
    if "soak" in only:
        log(f"soak: {opts.soak_seconds:g} s at {opts.soak_rate:g}/s")
        results["soak"] = await scenarios.soak(opts)
    results["seconds"] = time.monotonic() - began
    results["machine"]["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    results["targets"] = report.targets(results)
    return results


def _floor_namespace() -> str:
    return f"ewbench-floor-{uuid.uuid4().hex[:8]}"


async def _scaling(
    opts: Options, only: set[str], systems: set[str], results: dict[str, Any]
) -> None:
    """Issue 13's scaling figures, for eventwire and Open WebUI's own manager."""
    peers = [s for s in ("eventwire", "owui") if s in systems]
    if "emitters" in only:
        spread_: dict[str, dict[str, Any]] = {s: {} for s in peers}
        for system in peers:
            for count in opts.emitter_counts:
                log(f"emitters: {system}, {count} emitter processes, K=2")
                spread_[system][str(count)] = await scenarios.emitters(opts, system, count)
        results["emitters"] = spread_
    if "storm" in only:
        storms: dict[str, Any] = {}
        for system in peers:
            log(f"storm: {opts.storm_clients} sockets on a killed {system} server reconnect")
            storms[system] = await scenarios.storm(opts, system, opts.storm_clients)
        results["storm"] = storms
        if "eventwire" in peers:  # Open WebUI's servers have no drain: SIGTERM ends them
            log(f"drain: {opts.storm_clients} sockets on a drained (SIGTERM) edge resume")
            drained = await scenarios.storm(opts, "eventwire", opts.storm_clients, sigterm=True)
            results["drain"] = {"eventwire": drained}


def write(results: dict[str, Any], out: Path, name: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    table = report.markdown(results)
    (out / f"{name}.md").write_text(table)
    report.plot(results, out / f"{name}.png")
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    opts = options(args)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    systems = {s.strip() for s in args.systems.split(",") if s.strip()}
    if "owui" in systems and not Path(OWUI_PYTHON).is_file():
        raise SystemExit(
            f"the Open WebUI peer needs Open WebUI's virtualenv ({OWUI_PYTHON}): "
            "run `make openwebui-venv`, or leave it out with --systems eventwire,socketio,floor"
        )
    results = asyncio.run(run(opts, only, systems))
    print(write(results, args.out, args.name))
    log(f"wrote {args.out}/{args.name}.{{json,md,png}} in {results['seconds']:.0f} s")
    return 0
