"""What every scenario shares: the processes it starts (all stopped by PID), the clients'
identities, and collecting what the load processes saw."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
from yarl import URL

from eventwire import mint_token
from tests.bench.control import Child
from tests.support.cluster import delete_namespace
from tests.support.procs import EdgeProc, Proc

ROOT = Path(__file__).resolve().parents[2]
P = TypeVar("P", bound=Proc)
SECRET = "eventwire-bench-secret-key-that-is-long-enough-for-hs256"


@dataclass
class Options:
    amqp_url: str
    clients: int = 200
    load_procs: int = 2
    ks: tuple[int, ...] = (1, 2, 4)
    rate: float = 500.0
    rate_seconds: float = 8.0
    burst: int = 10_000
    window: int = 100
    call_rate: float = 200.0
    call_seconds: float = 8.0
    conn_sizes: tuple[int, ...] = (1000, 5000)
    soak_seconds: float = 120.0
    soak_rate: float = 500.0
    stall_seconds: float = 10.0
    edge_loop: str = ""  # EVENTWIRE_LOOP for edge nodes ("" = their default)
    redis_url: str = "redis://127.0.0.1:6379/0"  # Open WebUI's room channels (the peer)
    storm_clients: int = 5000  # sockets on the server a reconnect storm kills
    emitter_counts: tuple[int, ...] = (1, 2, 4)  # emitter processes in the emitters scenario
    recovery_window: float | None = None  # EVENTWIRE_RECOVERY_WINDOW (None: the default, on)


# Open WebUI's own virtualenv (make openwebui-venv): the peer runs its code at its pins.
OWUI_PYTHON = os.environ.get(
    "EVENTWIRE_BENCH_OWUI_PYTHON", str(ROOT / ".venv-openwebui/bin/python")
)


class Lab:
    """Starts processes for one scenario and stops every one of them, by PID, at exit."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.namespace = f"ewbench-{uuid.uuid4().hex[:8]}"
        self.procs: list[Proc] = []
        self._loads: list[Child] = []
        self._closed_sids: list[str] = []  # of clients closed before the lab (close_clients)
        self.env = {
            "AMQP_URL": opts.amqp_url,
            "WEBUI_SECRET_KEY": SECRET,
            "EVENTWIRE_NAMESPACE": self.namespace,
            "EVENTWIRE_LOG_LEVEL": "WARNING",
            "EVENTWIRE_DRAIN_DELAY": "0",  # a drained edge: no balancer to wait for here
            "REDIS_URL": opts.redis_url,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        if opts.edge_loop:
            self.env["EVENTWIRE_LOOP"] = opts.edge_loop
        if opts.recovery_window is not None:
            self.env["EVENTWIRE_RECOVERY_WINDOW"] = str(opts.recovery_window)

    async def start(self, proc: P) -> P:
        self.procs.append(proc)
        await proc.start()
        return proc

    async def edge(self) -> EdgeProc:
        return await self.start(EdgeProc(self.env, name=f"edge{len(self.procs)}"))

    async def child(self, module: str, *args: str, name: str, python: str = "") -> Child:
        return await self.start(
            Child(f"tests.bench.{module}", *args, env=self.env, name=name, python=python)
        )

    async def loads(self) -> list[Child]:
        loads = list(
            await asyncio.gather(
                *(self.child("load", name=f"load{i}") for i in range(self.opts.load_procs))
            )
        )
        self._loads.extend(loads)
        return loads

    async def close_clients(self) -> int:
        """Every load closes its clients' websockets; how many it closed. (Sessions whose
        mailboxes remain are deleted with the lab's.)"""
        for load in self._loads:
            self._closed_sids += (await load.request("sids"))["sids"]
        replies = await asyncio.gather(*(load.request("close") for load in self._loads))
        return sum(int(reply["closed"]) for reply in replies)

    async def close(self) -> None:
        # The sessions the loads hold: their mailboxes outlive the edges (that is recovery)
        # and would weigh on the broker through every later scenario until they expire.
        sids = list(self._closed_sids)
        for load in self._loads:
            with contextlib.suppress(Exception):
                sids += (await load.request("sids"))["sids"]
        self._loads.clear()
        await asyncio.gather(*(p.stop() for p in reversed(self.procs)), return_exceptions=True)
        self.procs.clear()
        await delete_mailboxes(self.opts.amqp_url, self.namespace, sids)
        await delete_namespace_named(self.opts.amqp_url, self.namespace)


@contextlib.asynccontextmanager
async def lab(opts: Options) -> AsyncIterator[Lab]:
    the_lab = Lab(opts)
    try:
        yield the_lab
    finally:
        await the_lab.close()


async def delete_namespace_named(amqp_url: str, namespace: str) -> None:
    """eventwire's ``<ns>.events`` and the baseline's fanout exchange (named ``<ns>``)."""
    from eventwire import Settings

    await delete_namespace(Settings(amqp_url=amqp_url, namespace=namespace))
    import aio_pika

    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.exchange_delete(namespace)


async def delete_mailboxes(amqp_url: str, namespace: str, sids: list[str]) -> None:
    """Every named session's mailbox (pipelined deletes, then one answered method)."""
    if not sids:
        return
    import aiormq

    from eventwire.topology import Topology

    topology = Topology(namespace)
    with contextlib.suppress(Exception):
        connection = await aiormq.connect(amqp_url)
        try:
            channel = await connection.channel()
            for sid in sids:
                name = topology.mailbox(sid, expires_s=1, max_events=1, max_bytes=1).name
                await channel.queue_delete(name, nowait=True)
            await channel.basic_qos(prefetch_count=0)  # answered after every delete
        finally:
            await connection.close()


def users(n: int) -> list[str]:
    return [f"u{i:05d}" for i in range(n)]


def spread(urls: list[str], names: list[str], loads: int) -> list[list[list[str]]]:
    """Client i -> server i % len(urls), held by load process i % loads."""
    per_load: list[list[list[str]]] = [[] for _ in range(loads)]
    for i, user in enumerate(names):
        per_load[(i // len(urls)) % loads].append(
            [urls[i % len(urls)], user, mint_token(user, SECRET, expires_in=86400)]
        )
    return per_load


async def connect(loads: list[Child], per_load: list[list[list[str]]]) -> dict[str, Any]:
    started = time.perf_counter()
    replies = await asyncio.gather(
        *(load.request("connect", targets=t) for load, t in zip(loads, per_load, strict=True))
    )
    return {
        "seconds": time.perf_counter() - started,
        "clients": [c for r in replies for c in r["clients"]],
    }


async def drain(
    loads: list[Child], expected: int, stall: float, samples: bool = True
) -> dict[str, Any]:
    """Wait until ``expected`` events arrived or none arrived for ``stall`` s; merge reports."""
    last, still = -1, time.monotonic()
    while True:
        counts = await asyncio.gather(*(load.request("count") for load in loads))
        total = sum(c["received"] for c in counts)
        if total >= expected:
            break
        if total != last:
            last, still = total, time.monotonic()
        elif time.monotonic() - still > stall:
            break
        await asyncio.sleep(0.1)
    reports = await asyncio.gather(*(load.request("report", samples=samples) for load in loads))
    seqs = [s for r in reports for s in r["seqs"]]
    firsts = [r["first_recv"] for r in reports if r["first_recv"] is not None]
    lasts = [r["last_recv"] for r in reports if r["last_recv"] is not None]
    return {
        "received": len(seqs),
        "unique": len(set(seqs)),
        "first_recv": min(firsts) if firsts else None,
        "last_recv": max(lasts) if lasts else None,
        "latency_us": [v for r in reports for v in r.get("latency_us", [])],
    }


async def reset(loads: list[Child]) -> None:
    await asyncio.gather(*(load.request("reset") for load in loads))


def percentiles(values: list[int], unit: float = 1000.0) -> dict[str, float | None]:
    """p50/p90/p99/max of microsecond samples, in ms by default."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / unit

    return {
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": ordered[-1] / unit,
        "n": len(ordered),
    }


def rss(pids: dict[str, int]) -> dict[str, int]:
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            out[name] = psutil.Process(pid).memory_info().rss
    return out


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            out[name] = times.user + times.system
    return out


async def settled_cpu(
    pid: int, step: float = 0.25, idle: float = 0.02, most: float = 60.0
) -> float:
    """``pid``'s CPU seconds once it has gone idle (under ``idle`` of a core over ``step``),
    or after ``most`` seconds."""
    last = cpu_seconds({"p": pid}).get("p", 0.0)
    deadline = time.monotonic() + most
    while time.monotonic() < deadline:
        await asyncio.sleep(step)
        now = cpu_seconds({"p": pid}).get("p", last)
        if now - last < idle * step:
            return now
        last = now
    return last


def pids_of(procs: list[Proc]) -> dict[str, int]:
    return {p.name: p.pid for p in procs}


def listener_pid(url: str) -> int | None:
    """The local process listening on ``url``'s port (the broker, Redis): its CPU is part of
    what an event costs on this machine. None when it cannot be told (not ours to see)."""
    port = URL(url).port
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return int(conn.pid) if conn.pid is not None else None
    return None
