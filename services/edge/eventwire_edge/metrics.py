"""``GET /metrics`` of an edge node: its counters, read when Prometheus scrapes.

Nothing here runs per event: the node keeps plain counters (``EdgeStats``, the gate's, a few
dicts and histograms), and this collector turns them into the contract's metric families
(deploy/README.md) at scrape time, in a registry of the node's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from eventwire.prometheus import bus_families, counter, gauge, histogram, registry

if TYPE_CHECKING:
    from .node import EdgeNode


def edge_registry(node: EdgeNode) -> CollectorRegistry:
    return registry(lambda: edge_families(node))


def edge_families(node: EdgeNode) -> list[Metric]:
    stats, gate = node.stats, node.gate.stats
    scoped = node.scoped_events.stats
    return [
        gauge("eventwire_connections", "Socket.IO connections this edge holds.", node.connections),
        gauge(
            "eventwire_bound_keys",
            "Routing keys bound to this edge's queue (sessions, users, channels).",
            node.bound_keys,
        ),
        counter(
            "eventwire_events_in_total",
            "Bus messages this edge's queue delivered, by kind (emit, call, channel ...).",
            node.messages_in,
            "kind",
        ),
        counter(
            "eventwire_events_out_total",
            "Events this edge sent to its sockets, by kind.",
            {
                "emit": stats.emits_delivered,
                "channel": node.surface.stats.channel_events_delivered,
                "call": stats.calls_served,
            },
            "kind",
        ),
        histogram(
            "eventwire_delivery_seconds",
            "From the SDK publishing an emit to this edge handing it to its sockets (seconds).",
            node.delivery_seconds,
        ),
        histogram(
            "eventwire_call_seconds",
            "From asking a socket (__event_call__) to its answer or timeout (seconds).",
            node.call_seconds,
        ),
        counter(
            "eventwire_calls_total",
            "__event_call__s this edge answered, by outcome (ok or the error code).",
            node.call_outcomes,
            "outcome",
        ),
        gauge(
            "eventwire_presence_sessions",
            "Sessions in this edge's presence view (every edge's).",
            len(node.presence.replica.view),
        ),
        counter(
            "eventwire_client_refusals_total",
            "Client events and connections refused, by reason (error code); "
            "includes pushes of chat-scoped tokens over the HTTP API.",
            {
                "connect_refused": gate.connects_refused,
                "rate_limited": gate.client_events_limited + scoped.scoped_events_limited,
                "payload_too_large": gate.client_packets_too_large + scoped.scoped_events_too_large,
                "forbidden": gate.client_requests_denied + scoped.scoped_events_forbidden,
                "unknown_event": gate.client_errors,
            },
            "reason",
        ),
        *bus_families(node.bus),
    ]
