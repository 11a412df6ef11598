"""The composition root of the transports: the one place that picks a backend from ``AMQP_URL``."""

from __future__ import annotations

from .bus import Bus
from .settings import Settings
from .topology import QueueType, Topology


def open_bus(settings: Settings) -> Bus:
    """The bus ``settings.amqp_url`` names: ``memory://[name]`` or ``amqp://...`` (not started)."""
    node_queues = QueueType.QUORUM if settings.quorum_node_queues else QueueType.CLASSIC
    topology = Topology(settings.namespace, node_queue_type=node_queues)
    if settings.uses_memory_bus:
        from .memory import MemoryBus

        return MemoryBus(settings.amqp_url, topology, max_payload=settings.max_payload_bytes)
    from .amqp import AmqpBus

    return AmqpBus(settings, topology)
