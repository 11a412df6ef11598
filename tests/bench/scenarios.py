"""The scenarios: targeted emits (eventwire, python-socketio servers on eventwire's manager,
the AsyncAioPikaManager baseline, the no-broker floor), calls against the bare aio-pika round
trip, idle connections, and the soak."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
import uuid
from typing import Any

from tests.bench.control import Child
from tests.bench.lab import (
    OWUI_PYTHON,
    Options,
    connect,
    cpu_seconds,
    drain,
    lab,
    listener_pid,
    percentiles,
    pids_of,
    reset,
    rss,
    settled_cpu,
    spread,
    users,
)
from tests.support.procs import Proc

RATE_SEQ, BURST_SEQ, WARM_SEQ = 0, 10_000_000, 20_000_000


def python_for(system: str) -> str:
    """Open WebUI's peer runs in Open WebUI's virtualenv; everything else in ours."""
    return OWUI_PYTHON if system == "owui" else ""


async def _servers(the_lab: Any, system: str, k: int) -> list[str]:
    if system == "eventwire":
        edges = await asyncio.gather(*(the_lab.edge() for _ in range(k)))
        return [e.url for e in edges]
    manager = {"socketio": "aiopika", "owui": "owui", "manager": "eventwire"}.get(system, "none")
    servers = await asyncio.gather(
        *(
            the_lab.child(
                "servers",
                "--manager",
                manager,
                "--channel",
                the_lab.namespace,
                name=f"sio{i}",
                python=python_for(system),
            )
            for i in range(k)
        )
    )
    return [s.info["url"] for s in servers]


async def _warm(sender: Child, loads: list[Child], names: list[str], stall: float) -> int:
    """Until events flow end to end (the baseline binds its queue after the first connect)."""
    for _ in range(20):
        sent = await sender.request("rate", users=names, rate=200, duration=0.5, first_seq=WARM_SEQ)
        got = await drain(loads, sent["sent"], min(stall, 2.0), samples=False)
        await reset(loads)
        if got["unique"] >= sent["sent"] > 0:
            return int(sent["sent"])
        await asyncio.sleep(0.5)
    raise RuntimeError("events never flowed end to end during warm-up")


async def emit(opts: Options, system: str, k: int) -> dict[str, Any]:
    """``system``: eventwire (K edges), socketio (K AsyncAioPikaManager servers + write-only
    emitter), owui (K servers on Open WebUI's AsyncRedisRoomChannelManager + its write-only
    emitter), manager (K python-socketio servers on EventwireManager + write-only emitter),
    floor (one plain python-socketio server emitting to its own clients)."""
    async with lab(opts) as the_lab:
        urls = await _servers(the_lab, system, k)
        loads = await the_lab.loads()
        names = users(opts.clients)
        await connect(loads, spread(urls, names, len(loads)))
        if system == "floor":
            sender = the_lab.procs[0]
        else:
            sender = await the_lab.child(
                "emitter",
                "--system",
                system,
                "--channel",
                the_lab.namespace,
                name="emitter",
                python=python_for(system),
            )
        assert isinstance(sender, Child)
        await _warm(sender, loads, names, opts.stall_seconds)

        sent = await sender.request(
            "rate", users=names, rate=opts.rate, duration=opts.rate_seconds, first_seq=RATE_SEQ
        )
        got = await drain(loads, sent["sent"], opts.stall_seconds)
        await reset(loads)
        at_rate = {
            "rate": opts.rate,
            "sent": sent["sent"],
            "errors": sent["errors"],
            "undelivered": sent["sent"] - got["unique"],
            "schedule_lag_max_ms": sent["schedule_lag_max_ms"],
            "latency_ms": percentiles(got["latency_us"]),
        }

        pids = pids_of(the_lab.procs)
        # The shared service each system carries its events through: RabbitMQ, or Redis.
        through = opts.redis_url if system == "owui" else opts.amqp_url
        broker = listener_pid(through) if system != "floor" else None
        if broker is not None:
            pids["broker"] = broker
        cpu_before = cpu_seconds(pids)
        sent = await sender.request(
            "burst", users=names, n=opts.burst, window=opts.window, first_seq=BURST_SEQ
        )
        got = await drain(loads, sent["sent"], opts.stall_seconds, samples=False)
        cpu_after = cpu_seconds(pids)
        await reset(loads)
        span = ((got["last_recv"] or sent["last_send"]) - sent["first_send"]) / 1e9
        delivered = got["unique"]
        return {
            "system": system,
            "k": k,
            "clients": opts.clients,
            "at_rate": at_rate,
            "max": {
                "sent": sent["sent"],
                "errors": sent["errors"],
                "undelivered": sent["sent"] - delivered,
                "send_rate": sent["send_rate"],
                "seconds": span,
                "throughput": delivered / span if span > 0 else 0.0,
                "cpu_us_per_event": {
                    name: (cpu_after[name] - cpu_before[name]) * 1e6 / max(delivered, 1)
                    for name in cpu_after
                    if name in cpu_before
                },
            },
        }


async def calls(opts: Options, system: str = "eventwire") -> dict[str, Any]:
    """Calls from a worker process to clients on two server processes: ``__event_call__``
    to edges (eventwire), or ``call()`` from a write-only EventwireManager (manager)."""
    async with lab(opts) as the_lab:
        urls = await _servers(the_lab, system, 2)
        loads = await the_lab.loads()
        names = users(opts.clients)
        clients = (await connect(loads, spread(urls, names, len(loads))))["clients"]
        worker = await the_lab.child(
            "emitter", "--system", system, "--channel", the_lab.namespace, name="worker"
        )
        targets = [[user, sid] for user, sid, _url in clients]
        await worker.request("calls", targets=targets, rate=50, duration=1.0)  # warm-up
        result = await worker.request(
            "calls", targets=targets, rate=opts.call_rate, duration=opts.call_seconds
        )
        return {
            "rate": opts.call_rate,
            "attempted": result["attempted"],
            "answered": len(result["rtt_us"]),
            "errors": result["errors"],
            "schedule_lag_max_ms": result["schedule_lag_max_ms"],
            "rtt_ms": percentiles(result["rtt_us"]),
            "rtt_us": result["rtt_us"],
        }


async def rpc_floor(opts: Options) -> dict[str, Any]:
    """A bare aio-pika request/reply between two processes: the broker's own round trip."""
    async with lab(opts) as the_lab:
        queue = f"{the_lab.namespace}.rpc.{uuid.uuid4().hex[:6]}"
        await the_lab.child("echo", "--queue", queue, name="echo")
        client = await the_lab.child("emitter", "--system", "rpc", name="rpc")
        await client.request("rpc", queue=queue, rate=50, duration=1.0)  # warm-up
        result = await client.request(
            "rpc", queue=queue, rate=opts.call_rate, duration=opts.call_seconds
        )
        return {
            "rate": opts.call_rate,
            "answered": len(result["rtt_us"]),
            "errors": result["errors"],
            "rtt_ms": percentiles(result["rtt_us"]),
            "rtt_us": result["rtt_us"],
        }


async def connections(opts: Options, system: str, n: int) -> dict[str, Any]:
    """Connect ``n`` idle clients to one server; time it and weigh the server's memory."""
    async with lab(opts) as the_lab:
        urls = await _servers(the_lab, system, 1)
        server = the_lab.procs[0]
        loads = await the_lab.loads()
        # One client first, so lazily created state (the baseline's manager) is not counted.
        await connect(loads[:1], [spread(urls, ["warm"], 1)[0]])
        await asyncio.sleep(0.5)
        before = rss({"server": server.pid})["server"]
        cpu_before = cpu_seconds({"server": server.pid})["server"]
        result = await connect(loads, spread(urls, users(n), len(loads)))
        await asyncio.sleep(1.0)
        after = rss({"server": server.pid})["server"]
        cpu_after = cpu_seconds({"server": server.pid})["server"]
        # Then every client goes (websockets closed, as when tabs or a balancer drop them):
        # the server's CPU from then until it is idle again.
        closed = await the_lab.close_clients()
        cpu_closed = await settled_cpu(server.pid)
        return {
            "system": system,
            "clients": n,
            "connect_seconds": result["seconds"],
            "connects_per_s": n / result["seconds"],
            "server_cpu_s": cpu_after - cpu_before,
            "closed": closed,
            "disconnect_cpu_s": cpu_closed - cpu_after,
            "rss_before": before,
            "rss_after": after,
            "bytes_per_connection": (after - before) / n,
        }


async def soak(opts: Options) -> dict[str, Any]:
    """A fixed rate for ``soak_seconds`` across two edges; memory of every process and losses."""
    async with lab(opts) as the_lab:
        urls = await _servers(the_lab, "eventwire", 2)
        loads = await the_lab.loads()
        names = users(opts.clients)
        await connect(loads, spread(urls, names, len(loads)))
        emitter = await the_lab.child("emitter", "--system", "eventwire", name="emitter")
        await _warm(emitter, loads, names, opts.stall_seconds)
        # Settle allocations (first events, caches) before the start sample.
        await emitter.request(
            "rate", users=names, rate=opts.soak_rate, duration=3.0, first_seq=WARM_SEQ
        )
        await drain(loads, 1 << 62, 1.0, samples=False)
        await reset(loads)
        pids = pids_of(the_lab.procs)
        start = rss(pids)
        series: list[dict[str, Any]] = []
        t0 = time.monotonic()

        async def sample() -> None:
            while True:
                series.append({"t": time.monotonic() - t0, "rss": rss(pids)})
                await asyncio.sleep(max(opts.soak_seconds / 24, 1.0))

        sampler = asyncio.create_task(sample())
        try:
            sent = await emitter.request(
                "rate",
                users=names,
                rate=opts.soak_rate,
                duration=opts.soak_seconds,
                first_seq=RATE_SEQ,
            )
            got = await drain(loads, sent["sent"], opts.stall_seconds)
        finally:
            sampler.cancel()
        end = rss(pids)
        series.append({"t": time.monotonic() - t0, "rss": end})
        growth = {name: (end[name] - start[name]) / start[name] for name in end if name in start}
        # Load processes keep every sample by design; the target is about the system under test.
        tested = [g for name, g in growth.items() if not name.startswith("load")]
        return {
            "seconds": opts.soak_seconds,
            "rate": opts.soak_rate,
            "sent": sent["sent"],
            "errors": sent["errors"],
            "undelivered": sent["sent"] - got["unique"],
            "latency_ms": percentiles(got["latency_us"]),
            "rss_start": start,
            "rss_end": end,
            "growth": growth,
            "max_growth": max(tested) if tested else 0.0,
            "series": series,
        }


STORM_SEQ = 30_000_000


async def storm(opts: Options, system: str, n: int, *, sigterm: bool = False) -> dict[str, Any]:
    """A reconnect storm: ``n`` sockets on one of two servers; it is SIGKILLed and every socket
    reconnects to the other at once. Measured: kill -> all reconnected, and kill -> every
    user has received an event again. With ``sigterm``, a rolling restart instead: the server
    is SIGTERMed (an edge drains: its tabs resume on the other), and also measured is when
    it had exited."""
    async with lab(opts) as the_lab:
        urls = await _servers(the_lab, system, 2)
        victim, survivor = the_lab.procs[0], urls[1]
        loads = await the_lab.loads()
        names = users(n)
        await connect(loads, spread(urls[:1], names, len(loads)))
        sender = await the_lab.child(
            "emitter",
            "--system",
            system,
            "--channel",
            the_lab.namespace,
            name="emitter",
            python=python_for(system),
        )
        await _warm(sender, loads, names, opts.stall_seconds)
        started = time.perf_counter()
        exit_: asyncio.Task[float] | None = None
        if sigterm:
            os.kill(victim.pid, signal.SIGTERM)
            exit_ = asyncio.create_task(_exited(victim, started, opts.stall_seconds * 6))
        else:
            victim.kill()
        try:
            storms = await asyncio.gather(
                *(load.request("storm", urls=[survivor], dead=urls[0]) for load in loads)
            )
            reconnected = time.perf_counter() - started
            exited = await exit_ if exit_ is not None else None
        finally:
            if exit_ is not None and not exit_.done():  # the storm failed: the lab stops it
                exit_.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await exit_
        await reset(loads)
        sent = await sender.request("burst", users=names, n=n, window=200, first_seq=STORM_SEQ)
        got = await drain(loads, sent["sent"], opts.stall_seconds, samples=False)
        receiving = time.perf_counter() - started
        return {
            "system": system,
            "clients": n,
            "reconnected": sum(s["reconnected"] for s in storms),
            "recovered": sum(s.get("recovered", 0) for s in storms),  # same session, offset kept
            "reconnect_seconds": reconnected,
            "receiving_seconds": receiving,
            "undelivered": sent["sent"] - got["unique"],
            "how": "drain" if sigterm else "kill",
            "exited_seconds": exited,  # drain: SIGTERM -> the drained server had exited
        }


async def _exited(proc: Proc, started: float, timeout: float) -> float:
    """Seconds from ``started`` until ``proc`` exited."""
    if proc.proc is not None:
        async with asyncio.timeout(timeout):
            await proc.proc.wait()
    return time.perf_counter() - started


async def emitters(opts: Options, system: str, count: int, k: int = 2) -> dict[str, Any]:
    """Aggregate throughput with ``count`` emitter processes into ``k`` servers: is the edge
    or the emitter the limit?"""
    async with lab(opts) as the_lab:
        urls = await _servers(the_lab, system, k)
        loads = await the_lab.loads()
        names = users(opts.clients)
        await connect(loads, spread(urls, names, len(loads)))
        senders = [
            await the_lab.child(
                "emitter",
                "--system",
                system,
                "--channel",
                the_lab.namespace,
                name=f"emitter{i}",
                python=python_for(system),
            )
            for i in range(count)
        ]
        await _warm(senders[0], loads, names, opts.stall_seconds)
        per = opts.burst // count
        pids = pids_of(the_lab.procs)
        cpu_before = cpu_seconds(pids)
        sent = await asyncio.gather(
            *(
                s.request(
                    "burst", users=names, n=per, window=opts.window, first_seq=BURST_SEQ + i * per
                )
                for i, s in enumerate(senders)
            )
        )
        total = sum(s["sent"] for s in sent)
        got = await drain(loads, total, opts.stall_seconds, samples=False)
        cpu_after = cpu_seconds(pids)
        await reset(loads)
        first = min(s["first_send"] for s in sent)
        span = ((got["last_recv"] or max(s["last_send"] for s in sent)) - first) / 1e9
        cpu = {
            name: (cpu_after[name] - cpu_before[name]) * 1e6 / max(got["unique"], 1)
            for name in cpu_after
            if name in cpu_before
        }
        return {
            "system": system,
            "k": k,
            "emitters": count,
            "sent": total,
            "undelivered": total - got["unique"],
            "throughput": got["unique"] / span if span > 0 else 0.0,
            "server_cpu_us_per_event": sum(
                v for name, v in cpu.items() if name.startswith(("edge", "sio"))
            ),
            "emitter_cpu_us_per_event": sum(
                v for name, v in cpu.items() if name.startswith("emitter")
            ),
        }


async def recovery(opts: Options) -> dict[str, Any]:
    """What recovery costs: the same eventwire runs with it on (the default) and off
    (``EVENTWIRE_RECOVERY_WINDOW=0``) back to back: max throughput and CPU per event at K=2,
    memory per idle connection, and a reconnect storm (with it on, every socket comes back as
    the same session, from its mailbox)."""
    size = opts.conn_sizes[-1]
    out: dict[str, Any] = {}
    for label, window in (("on", None), ("off", 0.0)):
        o = dataclasses.replace(opts, recovery_window=window)
        out[label] = {
            "emit": await emit(o, "eventwire", 2),
            "connections": await connections(o, "eventwire", size),
            "storm": await storm(o, "eventwire", opts.storm_clients),
        }
    return out
