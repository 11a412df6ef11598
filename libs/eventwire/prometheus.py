"""Prometheus text exposition of what a process counts (needs ``prometheus-client``: the edge
and worker extras bring it; the bare SDK never imports this module).

Each service registers a ``Source`` — a function building metric families from its counters —
in a ``CollectorRegistry`` of its own (never the library's global one, so in-process edges of
a test never share metrics). Names are the contract in deploy/README.md ("Metrics"); the
processes do not label their own series with a node id (Prometheus adds it from the target).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from .metrics import Histogram

if TYPE_CHECKING:
    from .bus import Bus
    from .client import Eventwire

Families = Callable[[], Iterable[Metric]]


class Source(Collector):
    """A collector that reads the process's own counters when scraped."""

    def __init__(self, families: Families) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families()


def registry(*sources: Families) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    for families in sources:
        reg.register(Source(families))
    return reg


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def counter(
    name: str, documentation: str, values: float | Mapping[str, float], label: str = ""
) -> CounterMetricFamily:
    """``values``: one number, or one per value of ``label`` (``name`` ends in ``_total``)."""
    if not isinstance(values, Mapping):
        return CounterMetricFamily(name, documentation, value=values)
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], count)
    return family


def histogram(name: str, documentation: str, hist: Histogram) -> HistogramMetricFamily:
    buckets = [(_le(bound), float(n)) for bound, n in hist.cumulative()]
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=hist.sum)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def bus_families(bus: Bus) -> list[Metric]:
    """The broker side every process has: connection, reconnects, the outbox."""
    return [
        gauge(
            "eventwire_broker_connected",
            "1 while the broker connection is up, else 0.",
            1.0 if bus.connected else 0.0,
        ),
        counter(
            "eventwire_broker_reconnects_total",
            "Times the broker connection was restored after a loss.",
            bus.reconnects,
        ),
        gauge(
            "eventwire_outbox_depth",
            "Emits held while the broker is unreachable.",
            bus.outbox_depth,
        ),
    ]


def client_families(client: Eventwire) -> list[Metric]:
    """What an SDK client sent: emits and calls (a worker's, or any process's)."""
    stats = client.stats
    families: list[Metric] = [
        counter(
            "eventwire_events_out_total",
            "Messages this process published to clients, by kind.",
            {"emit": stats.emits, "call": sum(stats.calls.values())},
            "kind",
        ),
        counter(
            "eventwire_calls_total",
            "__event_call__s this process made, by outcome (ok or the error code).",
            stats.calls,
            "outcome",
        ),
        histogram(
            "eventwire_call_seconds",
            "Round trip of __event_call__s this process made (seconds).",
            stats.call_seconds,
        ),
    ]
    if client.presence is not None:
        families.append(
            gauge(
                "eventwire_presence_sessions",
                "Sessions in this process's presence view (every edge's).",
                len(client.presence.view),
            )
        )
    return families
