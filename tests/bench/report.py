"""Turn a run's figures into targets, a markdown table and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _get(data: dict[str, Any], *path: Any) -> Any:
    for key in path:
        if not isinstance(data, dict) or str(key) not in data:
            return None
        data = data[str(key)]
    return data


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def server_cpu_us(run: dict[str, Any] | None) -> float | None:
    """CPU of the K servers (edges or python-socketio servers) per delivered event."""
    cpu = _get(run or {}, "max", "cpu_us_per_event")
    if not cpu:
        return None
    return sum(v for name, v in cpu.items() if name.startswith(("edge", "sio")))


def broker_cpu_us(run: dict[str, Any] | None) -> float | None:
    """CPU of the service the events went through (RabbitMQ, or Redis) per delivered event."""
    value = _get(run or {}, "max", "cpu_us_per_event", "broker")
    return float(value) if value is not None else None


def emitter_cpu_us(run: dict[str, Any] | None) -> float | None:
    value = _get(run or {}, "max", "cpu_us_per_event", "emitter")
    return float(value) if value is not None else None


def _peer_rows(emit: dict[str, Any]) -> list[tuple[str, float | None, str, float, str]]:
    """Issue 13: every figure as a ratio to Open WebUI's own multi-replica manager (owui)."""
    rows: list[tuple[str, float | None, str, float, str]] = []
    for k in (2, 4):
        ew, ow = _get(emit, "eventwire", k), _get(emit, "owui", k)
        rows.append(
            (
                f"max delivered events/s K={k} / Open WebUI room channels",
                _ratio(_get(ew or {}, "max", "throughput"), _get(ow or {}, "max", "throughput")),
                ">=",
                1.3,
                "x",
            )
        )
        rows.append(
            (
                f"edge CPU per delivered event K={k} / room channels",
                _ratio(server_cpu_us(ew), server_cpu_us(ow)),
                "<=",
                0.8,
                "x",
            )
        )
    ew2, ow2 = _get(emit, "eventwire", 2), _get(emit, "owui", 2)
    rows.append(
        (
            "SDK CPU per emit / room channels' emitter (K=2)",
            _ratio(emitter_cpu_us(ew2), emitter_cpu_us(ow2)),
            "<=",
            0.7,
            "x",
        )
    )
    rows.append(
        (
            "p99 at 500/s K=4 / room channels p99",
            _ratio(
                _get(emit, "eventwire", 4, "at_rate", "latency_ms", "p99"),
                _get(emit, "owui", 4, "at_rate", "latency_ms", "p99"),
            ),
            "<=",
            1.0,
            "x",
        )
    )
    return rows


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value, its threshold and whether it holds."""
    emit = results.get("emit", {})
    ew4 = _get(emit, "eventwire", 4, "max", "throughput")
    ew1 = _get(emit, "eventwire", 1, "max", "throughput")
    sio4 = _get(emit, "socketio", 4, "max", "throughput")
    p99 = _get(emit, "eventwire", 4, "at_rate", "latency_ms", "p99")
    call = _get(results, "calls", "eventwire", "rtt_ms", "p50")
    rpc = _get(results, "calls", "rpc", "rtt_ms", "p50")
    sizes = sorted(int(n) for n in results.get("connections", {}).get("eventwire", {}))
    mem = None
    if sizes:
        mem = _ratio(
            _get(results, "connections", "eventwire", sizes[-1], "bytes_per_connection"),
            _get(results, "connections", "socketio", sizes[-1], "bytes_per_connection"),
        )
    soak = results.get("soak")
    peer = _peer_rows(emit)
    storm = _get(results, "storm", "eventwire")
    conn_ratio = None
    if sizes:
        ew_c = _get(results, "connections", "eventwire", sizes[-1], "connects_per_s")
        sio_c = _get(results, "connections", "socketio", sizes[-1], "connects_per_s")
        conn_ratio = _ratio(ew_c, sio_c)
    rows = [
        ("emit throughput K=4 / baseline K=4", _ratio(ew4, sio4), ">=", 3.0, "x"),
        ("emit throughput K=4 / eventwire K=1", _ratio(ew4, ew1), ">=", 0.8, "x"),
        ("emit p99 latency at 500/s, K=4", p99, "<=", 2.0, "ms"),
        ("call round trip p50 / bare aio-pika p50", _ratio(call, rpc), "<=", 2.0, "x"),
        (
            f"memory per idle connection / python-socketio ({sizes[-1] if sizes else '-'})",
            mem,
            "<=",
            1.2,
            "x",
        ),
        ("soak undelivered events", soak and soak["undelivered"], "<=", 0, "events"),
        (
            "soak largest growth of an edge or the emitter",
            soak and soak["max_growth"],
            "<=",
            0.10,
            "fraction",
        ),
        *peer,
        ("connects per second to one edge / plain python-socketio", conn_ratio, ">=", 1.0, "x"),
        (
            f"reconnect storm ({storm['clients'] if storm else '-'} sockets, one of two edges "
            "killed): all back and receiving",
            storm and storm["receiving_seconds"],
            "<=",
            10.0,
            "s",
        ),
    ]
    out = []
    for name, value, op, threshold, unit in rows:
        holds = None
        if value is not None:
            holds = value >= threshold if op == ">=" else value <= threshold
        out.append(
            {
                "name": name,
                "measured": value,
                "op": op,
                "threshold": threshold,
                "unit": unit,
                "holds": holds,
            }
        )
    return out


def _f(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _spread_and_storm(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    spread = results.get("emitters") or {}
    if spread:
        lines += [
            "**Emitter processes** (K=2 servers, one burst split across E emitters): aggregate "
            "delivered events/s, and CPU per delivered event in the servers and the emitters.",
            "",
            "| system | E | delivered ev/s | server CPU µs/ev | emitter CPU µs/ev | undelivered |",
            "|---|---|---|---|---|---|",
        ]
        for system, runs in spread.items():
            for count, run in sorted(runs.items(), key=lambda kv: int(kv[0])):
                lines.append(
                    f"| {system} | {count} | {_f(run['throughput'], 0)} | "
                    f"{_f(run['server_cpu_us_per_event'], 0)} | "
                    f"{_f(run['emitter_cpu_us_per_event'], 0)} | {run['undelivered']} |"
                )
        lines.append("")
    storms = results.get("storm") or {}
    if storms:
        lines += [
            "**Reconnect storm**: every socket of a SIGKILLed server reconnects to the other one "
            "at once; seconds from the kill until all are connected, and until every user has "
            "received an event again.",
            "",
            "| system | sockets | reconnected | all connected s | all receiving s | undelivered |",
            "|---|---|---|---|---|---|",
        ]
        for system, run in storms.items():
            lines.append(
                f"| {system} | {run['clients']} | {run['reconnected']} | "
                f"{_f(run['reconnect_seconds'])} | {_f(run['receiving_seconds'])} | "
                f"{run['undelivered']} |"
            )
        lines.append("")
    drained = (results.get("drain") or {}).get("eventwire")
    if drained:
        lines += [
            "**Rolling restart**: the same sockets, their edge drained (SIGTERM, "
            "`EVENTWIRE_DRAIN_DELAY=0`: no balancer to wait for) instead of killed; every tab "
            "resumes its session on the other edge. Open WebUI's servers have no drain "
            "(SIGTERM ends them as a kill does).",
            "",
            "| sockets | reconnected | recovered (same session) | all connected s | "
            "all receiving s | drained edge exited s | undelivered |",
            "|---|---|---|---|---|---|---|",
            f"| {drained['clients']} | {drained['reconnected']} | {drained['recovered']} | "
            f"{_f(drained['reconnect_seconds'])} | {_f(drained['receiving_seconds'])} | "
            f"{_f(drained['exited_seconds'])} | {drained['undelivered']} |",
            "",
        ]
    return lines


def _recovery_lines(results: dict[str, Any]) -> list[str]:
    runs = results.get("recovery") or {}
    on, off = runs.get("on") or {}, runs.get("off") or {}
    if not on or not off:
        return []
    rows: list[tuple[str, Any, Any, int]] = [
        (
            "max delivered ev/s, K=2",
            _get(on, "emit", "max", "throughput"),
            _get(off, "emit", "max", "throughput"),
            0,
        ),
        (
            "edge CPU µs per delivered event, K=2",
            server_cpu_us(on.get("emit") or {}),
            server_cpu_us(off.get("emit") or {}),
            0,
        ),
        (
            "p99 ms at the fixed rate, K=2",
            _get(on, "emit", "at_rate", "latency_ms", "p99"),
            _get(off, "emit", "at_rate", "latency_ms", "p99"),
            2,
        ),
        (
            "edge bytes per idle connection",
            _get(on, "connections", "bytes_per_connection"),
            _get(off, "connections", "bytes_per_connection"),
            0,
        ),
        (
            "connects/s to one edge",
            _get(on, "connections", "connects_per_s"),
            _get(off, "connections", "connects_per_s"),
            0,
        ),
        (
            "storm: all reconnected s",
            _get(on, "storm", "reconnect_seconds"),
            _get(off, "storm", "reconnect_seconds"),
            2,
        ),
        (
            "storm: all receiving s",
            _get(on, "storm", "receiving_seconds"),
            _get(off, "storm", "receiving_seconds"),
            2,
        ),
        (
            "storm: sockets recovered (same session)",
            _get(on, "storm", "recovered"),
            _get(off, "storm", "recovered"),
            0,
        ),
    ]
    lines = [
        "**Recovery's cost** (`EVENTWIRE_RECOVERY_WINDOW` default 120 s vs 0), the same runs back "
        "to back: a mailbox queue per session, each event acknowledged once the client's pong "
        f"confirms it; storm of {_get(on, 'storm', 'clients')} sockets.",
        "",
        "| figure | recovery on | off | on / off |",
        "|---|---|---|---|",
    ]
    for name, a, b, digits in rows:
        lines.append(f"| {name} | {_f(a, digits)} | {_f(b, digits)} | {_x(_ratio(a, b))} |")
    return [*lines, ""]


def _peer_table(emit: dict[str, Any], ks: list[int]) -> list[str]:
    """eventwire beside Open WebUI 0.12.4's own multi-replica manager, figure by figure."""
    if not emit.get("owui"):
        return []
    lines = [
        "**Against Open WebUI's own scaling** (python-socketio + `AsyncRedisRoomChannelManager`, "
        "one Redis channel per room, loaded from the installed `open-webui` 0.12.4 in its own "
        "virtualenv with the python-socketio and redis it pins; its write-only emitter). CPU from "
        "the processes' own CPU times over the burst, per delivered event; broker = the "
        "service the events go through on the same two cores (RabbitMQ for eventwire, Redis "
        "for room channels).",
        "",
        "| K | eventwire max ev/s | room channels | ratio | server CPU µs/ev eventwire / "
        "room channels | ratio | emitter CPU µs/ev eventwire / room channels | ratio "
        "| broker CPU µs/ev RabbitMQ / Redis "
        "| p50 / p99 ms eventwire | room channels | p99 ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in ks:
        ew, ow = _get(emit, "eventwire", k) or {}, _get(emit, "owui", k) or {}
        if not ow:
            continue
        ew_max, ow_max = _get(ew, "max", "throughput"), _get(ow, "max", "throughput")
        ew_cpu, ow_cpu = server_cpu_us(ew), server_cpu_us(ow)
        ew_em, ow_em = emitter_cpu_us(ew), emitter_cpu_us(ow)
        ew_lat = _get(ew, "at_rate", "latency_ms") or {}
        ow_lat = _get(ow, "at_rate", "latency_ms") or {}
        lines.append(
            f"| {k} | {_f(ew_max, 0)} | {_f(ow_max, 0)} | {_x(_ratio(ew_max, ow_max))} | "
            f"{_f(ew_cpu, 0)} / {_f(ow_cpu, 0)} | {_x(_ratio(ew_cpu, ow_cpu))} | "
            f"{_f(ew_em, 0)} / {_f(ow_em, 0)} | {_x(_ratio(ew_em, ow_em))} | "
            f"{_f(broker_cpu_us(ew), 0)} / {_f(broker_cpu_us(ow), 0)} | "
            f"{_f(ew_lat.get('p50'))} / {_f(ew_lat.get('p99'))} | "
            f"{_f(ow_lat.get('p50'))} / {_f(ow_lat.get('p99'))} | "
            f"{_x(_ratio(ew_lat.get('p99'), ow_lat.get('p99')))} |"
        )
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results["machine"]
    lines.append(
        f"Run {results['started']} on {m['cpu_model']} ({m['cores']} cores), "
        f"load average before/after {m['loadavg_before']} / {m['loadavg_after']}; "
        f"RabbitMQ {m.get('rabbitmq', '?')}, Python {m['python']}, eventwire {m['git']}."
    )
    lines.append("")
    emit = results.get("emit", {})
    floor = _get(emit, "floor", 1)
    rpc = _get(results, "calls", "rpc", "rtt_ms", "p50")
    if emit:
        lines += [
            f"**Targeted emit**, {results['config']['clients']} clients, one event to one user. "
            "Max = delivered events/s for a burst; latency = emit-to-receive at "
            f"{results['config']['rate']:g} events/s. Baseline = python-socketio "
            "AsyncAioPikaManager (fanout) with a write-only emitter; floor = one python-socketio "
            "process emitting to its own clients, no broker.",
            "",
            "| K | eventwire max ev/s | baseline | vs baseline | vs floor | eventwire p50 / p99 ms"
            " | baseline p50 / p99 ms | p99 vs baseline | p50 vs floor | p50 vs aio-pika RTT |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for k in results["config"]["ks"]:
            ew = _get(emit, "eventwire", k) or {}
            sio = _get(emit, "socketio", k) or {}
            ew_max, sio_max = _get(ew, "max", "throughput"), _get(sio, "max", "throughput")
            ew_lat, sio_lat = (
                _get(ew, "at_rate", "latency_ms") or {},
                _get(sio, "at_rate", "latency_ms") or {},
            )
            lines.append(
                f"| {k} | {_f(ew_max, 0)} | {_f(sio_max, 0)} | {_x(_ratio(ew_max, sio_max))} | "
                f"{_x(_ratio(ew_max, _get(floor, 'max', 'throughput')))} | "
                f"{_f(ew_lat.get('p50'))} / {_f(ew_lat.get('p99'))} | "
                f"{_f(sio_lat.get('p50'))} / {_f(sio_lat.get('p99'))} | "
                f"{_x(_ratio(ew_lat.get('p99'), sio_lat.get('p99')))} | "
                f"{_x(_ratio(ew_lat.get('p50'), _get(floor, 'at_rate', 'latency_ms', 'p50')))} | "
                f"{_x(_ratio(ew_lat.get('p50'), rpc))} |"
            )
        if floor:
            fl = floor["at_rate"]["latency_ms"]
            lines.append(
                f"| floor | {_f(floor['max']['throughput'], 0)} | | | | "
                f"{_f(fl['p50'])} / {_f(fl['p99'])} | | | | |"
            )
        lines.append("")
        lines += _peer_table(emit, results["config"]["ks"])
    lines += _spread_and_storm(results)
    lines += _recovery_lines(results)
    lines += _manager_lines(results)
    calls = results.get("calls")
    if calls and "eventwire" in calls:
        ew, bare = calls["eventwire"]["rtt_ms"], _get(calls, "rpc", "rtt_ms") or {}
        lines += [
            f"**`__event_call__` round trip** at {calls['eventwire']['rate']:g} calls/s, worker "
            "process -> broker -> edge -> client -> back; floor = bare aio-pika request/reply "
            "between two processes.",
            "",
            "| | p50 ms | p90 ms | p99 ms | answered / errors |",
            "|---|---|---|---|---|",
            f"| eventwire call | {_f(ew['p50'])} | {_f(ew['p90'])} | {_f(ew['p99'])} | "
            f"{calls['eventwire']['answered']} / {sum(calls['eventwire']['errors'].values())} |",
            f"| bare aio-pika RTT | {_f(bare.get('p50'))} | {_f(bare.get('p90'))} | "
            f"{_f(bare.get('p99'))} | {_get(calls, 'rpc', 'answered')} / "
            f"{sum((_get(calls, 'rpc', 'errors') or {}).values())} |",
            f"| ratio | {_x(_ratio(ew['p50'], bare.get('p50')))} | "
            f"{_x(_ratio(ew['p90'], bare.get('p90')))} | "
            f"{_x(_ratio(ew['p99'], bare.get('p99')))} | |",
            "",
        ]
    conns = results.get("connections", {})
    if conns:
        lines += [
            "**Idle connections** to one server (eventwire edge vs plain python-socketio, same "
            "clients and token check).",
            "",
            "| clients | eventwire connect s | python-socketio connect s | eventwire KiB/conn "
            "| python-socketio KiB/conn | memory ratio | disconnect CPU us/socket eventwire "
            "| python-socketio |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for n in sorted(int(n) for n in conns.get("eventwire", {})):
            ew, sio = _get(conns, "eventwire", n) or {}, _get(conns, "socketio", n) or {}
            ew_b, sio_b = ew.get("bytes_per_connection"), sio.get("bytes_per_connection")
            ew_d, sio_d = ew.get("disconnect_cpu_s"), sio.get("disconnect_cpu_s")
            lines.append(
                f"| {n} | {_f(ew.get('connect_seconds'))} | {_f(sio.get('connect_seconds'))} | "
                f"{_f(ew_b and ew_b / 1024, 1)} | {_f(sio_b and sio_b / 1024, 1)} | "
                f"{_x(_ratio(ew_b, sio_b))} | {_f(ew_d and ew_d * 1e6 / n, 0)} | "
                f"{_f(sio_d and sio_d * 1e6 / n, 0)} |"
            )
        lines += [
            "",
            "Disconnect CPU: the server's CPU from every client closing its websocket until the "
            "server is idle again, per socket (python-socketio's manager finds a leaving "
            "socket's rooms by scanning every room: quadratic in the sockets that go).",
            "",
        ]
    lines += _floor_lines(results)
    soak = results.get("soak")
    if soak:
        lines += [
            f"**Soak**: {soak['seconds']:g} s at {soak['rate']:g} events/s over 2 edges; "
            f"sent {soak['sent']}, undelivered {soak['undelivered']}, latency p50 / p99 "
            f"{_f(soak['latency_ms']['p50'])} / {_f(soak['latency_ms']['p99'])} ms.",
            "",
            "| process | RSS start MiB | RSS end MiB | growth |",
            "|---|---|---|---|",
        ]
        for name, start in soak["rss_start"].items():
            end = soak["rss_end"].get(name)
            lines.append(
                f"| {name} | {start / 2**20:.1f} | {_f(end and end / 2**20, 1)} | "
                f"{soak['growth'].get(name, 0) * 100:+.1f} % |"
            )
        lines.append("")
    lines += [
        "**Targets** (reported, not asserted)",
        "",
        "| target | measured | threshold | holds |",
        "|---|---|---|---|",
    ]
    for t in results["targets"]:
        mark = {True: "yes", False: "**no**", None: "not run"}[t["holds"]]
        lines.append(
            f"| {t['name']} | {_f(t['measured'], 3)} {t['unit']} | {t['op']} {t['threshold']:g} "
            f"| {mark} |"
        )
    return "\n".join(lines) + "\n"


def _floor_lines(results: dict[str, Any]) -> list[str]:
    """What the brokers allow alone (``floors.py``), beside what eventwire gets."""
    hop, mailbox = _get(results, "floors", "hop"), _get(results, "floors", "mailbox")
    if not hop and not mailbox:
        return []
    lines = ["**Broker floors** (bare clients, no edge: `tests/bench/floors.py`)", ""]
    if hop:
        rabbit, redis = hop["rabbitmq"]["latency_ms"], hop["redis"]["latency_ms"]
        k = max(results["config"]["ks"])
        ew = _get(results, "emit", "eventwire", k, "at_rate", "latency_ms") or {}
        peer = _get(results, "emit", "owui", k, "at_rate", "latency_ms") or {}
        lines += [
            f"One publish reaching a subscriber at {hop['rate']:g}/s: the broker's share of an "
            f"event's latency (K={k}: eventwire end to end, Open WebUI's room channels end to "
            "end).",
            "",
            "| | p50 ms | p99 ms |",
            "|---|---|---|",
            f"| RabbitMQ hop (aiormq, confirms) | {_f(rabbit['p50'])} | {_f(rabbit['p99'])} |",
            f"| Redis pub/sub hop (redis-py) | {_f(redis['p50'])} | {_f(redis['p99'])} |",
            f"| ratio | {_x(_ratio(rabbit['p50'], redis['p50']))} | "
            f"{_x(_ratio(rabbit['p99'], redis['p99']))} |",
            f"| eventwire, K={k} | {_f(ew.get('p50'))} | {_f(ew.get('p99'))} |",
            f"| room channels, K={k} | {_f(peer.get('p50'))} | {_f(peer.get('p99'))} |",
            "",
        ]
    if mailbox:
        sizes = sorted(int(n) for n in _get(results, "connections", "eventwire") or {})
        ew = sizes and _get(results, "connections", "eventwire", sizes[-1], "connects_per_s")
        sio = sizes and _get(results, "connections", "socketio", sizes[-1], "connects_per_s")
        lines += [
            f"A connecting tab's mailbox on the bare broker: {mailbox['mailboxes']} declared, "
            "bound to two keys and consumed, pipelined as the edge does: "
            f"**{_f(mailbox['per_s'], 0)}/s**; eventwire connects {_f(ew or None, 0)}/s "
            f"({_x(_ratio(ew or None, mailbox['per_s']))} of it), plain python-socketio "
            f"{_f(sio or None, 0)}/s ({_x(_ratio(sio or None, mailbox['per_s']))} of it).",
            "",
        ]
    return lines


def _servers_cpu(run: dict[str, Any]) -> float | None:
    """CPU of every socket.io server process per delivered event (µs), summed over servers."""
    cpu = _get(run, "max", "cpu_us_per_event")
    if not cpu:
        return None
    return sum(v for name, v in cpu.items() if name.startswith("sio"))


def _manager_lines(results: dict[str, Any]) -> list[str]:
    """python-socketio servers on EventwireManager against the same on AsyncAioPikaManager."""
    emit = results.get("emit", {})
    if not emit.get("manager"):
        return []
    lines = [
        "**python-socketio on `EventwireManager` vs `AsyncAioPikaManager`**: the same "
        "python-socketio servers, clients and write-only emitter, only `client_manager` "
        "differs. Server CPU = every server process's CPU per delivered event, summed.",
        "",
        "| K | manager max ev/s | AioPika max ev/s | ratio | manager p50 / p99 ms "
        "| AioPika p50 / p99 ms | server CPU µs/event manager / AioPika | CPU ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in results["config"]["ks"]:
        ew, sio = _get(emit, "manager", k) or {}, _get(emit, "socketio", k) or {}
        ew_max, sio_max = _get(ew, "max", "throughput"), _get(sio, "max", "throughput")
        ew_lat = _get(ew, "at_rate", "latency_ms") or {}
        sio_lat = _get(sio, "at_rate", "latency_ms") or {}
        ew_cpu, sio_cpu = _servers_cpu(ew), _servers_cpu(sio)
        lines.append(
            f"| {k} | {_f(ew_max, 0)} | {_f(sio_max, 0)} | {_x(_ratio(ew_max, sio_max))} | "
            f"{_f(ew_lat.get('p50'))} / {_f(ew_lat.get('p99'))} | "
            f"{_f(sio_lat.get('p50'))} / {_f(sio_lat.get('p99'))} | "
            f"{_f(ew_cpu, 0)} / {_f(sio_cpu, 0)} | {_x(_ratio(ew_cpu, sio_cpu))} |"
        )
    manager_call = _get(results, "calls", "manager")
    if manager_call:
        rtt, rpc = manager_call["rtt_ms"], _get(results, "calls", "rpc", "rtt_ms") or {}
        lines += [
            "",
            f"`call()` from a write-only `EventwireManager` at {manager_call['rate']:g} calls/s "
            f"(AsyncAioPikaManager cannot): p50 / p90 / p99 {_f(rtt['p50'])} / "
            f"{_f(rtt['p90'])} / {_f(rtt['p99'])} ms, {manager_call['answered']} answered, "
            f"{sum(manager_call['errors'].values())} errors; p50 = "
            f"{_x(_ratio(rtt['p50'], rpc.get('p50')))} the bare aio-pika round trip.",
        ]
    return [*lines, ""]


def _legend(ax: Any, size: int) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=size)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    ks = results["config"]["ks"]
    emit = results.get("emit", {})
    width = 0.38
    xs = list(range(len(ks)))

    ax = axes[0][0]
    bars = width / 2
    for offset, system, label in (
        (-1.5 * bars, "eventwire", "eventwire"),
        (-0.5 * bars, "owui", "Open WebUI room channels (Redis)"),
        (0.5 * bars, "manager", "python-socketio on EventwireManager"),
        (1.5 * bars, "socketio", "AsyncAioPikaManager"),
    ):
        values = [_get(emit, system, k, "max", "throughput") or 0 for k in ks]
        ax.bar([x + offset for x in xs], values, bars, label=label)
    floor = _get(emit, "floor", 1, "max", "throughput")
    if floor:
        ax.axhline(floor, color="gray", linestyle="--", label="1 python-socketio, no broker")
    ax.set_xticks(xs, [f"K={k}" for k in ks])
    ax.set_ylabel("delivered events/s")
    ax.set_title("Targeted emit: max throughput")
    _legend(ax, 8)

    ax = axes[0][1]
    for system, label, marker in (
        ("eventwire", "eventwire", "o"),
        ("owui", "room channels", "D"),
        ("manager", "EventwireManager", "^"),
        ("socketio", "AsyncAioPikaManager", "s"),
    ):
        for q, style in (("p50", "-"), ("p99", "--")):
            values = [_get(emit, system, k, "at_rate", "latency_ms", q) for k in ks]
            ax.plot(ks, values, style, marker=marker, label=f"{label} {q}")
    ax.axhline(2.0, color="red", linewidth=0.8, label="target p99 (K=4)")
    ax.set_xticks(ks)
    ax.set_xlabel("K edge processes")
    ax.set_ylabel("ms")
    ax.set_yscale("log")
    ax.set_title(f"Emit-to-receive latency at {results['config']['rate']:g}/s")
    _legend(ax, 7)

    ax = axes[0][2]
    calls = results.get("calls", {})
    for name, label in (
        ("eventwire", "eventwire __event_call__"),
        ("manager", "EventwireManager call()"),
        ("rpc", "bare aio-pika RTT"),
    ):
        samples = sorted(_get(calls, name, "rtt_us") or [])
        if samples:
            ax.plot(
                [s / 1000 for s in samples],
                [(i + 1) / len(samples) for i in range(len(samples))],
                label=label,
            )
    ax.set_xscale("log")
    ax.set_xlabel("round trip ms")
    ax.set_ylabel("fraction")
    ax.set_title("Call round trip (CDF)")
    _legend(ax, 8)

    conns = results.get("connections", {})
    sizes = sorted(int(n) for n in conns.get("eventwire", {}))
    cx = list(range(len(sizes)))
    for ax, field, scale, title in (
        (axes[1][0], "bytes_per_connection", 1024, "Memory per idle connection (KiB)"),
        (axes[1][1], "connect_seconds", 1, "Time to connect (s)"),
    ):
        for offset, system, label in (
            (-width / 2, "eventwire", "eventwire edge"),
            (width / 2, "socketio", "python-socketio"),
        ):
            values = [(_get(conns, system, n, field) or 0) / scale for n in sizes]
            ax.bar([x + offset for x in cx], values, width, label=label)
        ax.set_xticks(cx, [f"{n} clients" for n in sizes])
        ax.set_title(title)
        _legend(ax, 8)

    ax = axes[1][2]
    soak = results.get("soak")
    if soak:
        names = list(soak["rss_start"])
        for name in names:
            ax.plot(
                [p["t"] for p in soak["series"]],
                [p["rss"].get(name, 0) / 2**20 for p in soak["series"]],
                label=name,
            )
        ax.set_xlabel("s")
        ax.set_ylabel("RSS MiB")
        ax.set_title(f"Soak at {soak['rate']:g}/s: memory")
        _legend(ax, 7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
