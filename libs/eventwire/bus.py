"""The bus seam: what edge nodes, workers and the SDK need from a message broker.

Two implementations sit beside this protocol: ``bus_memory`` (one process, no broker) and
``bus_amqp`` (RabbitMQ). Only ``bus_amqp`` imports aio-pika.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .protocol import Message
from .settings import Settings
from .topology import QueueSpec, Topology

Handler = Callable[[str, Message], Awaitable[None]]
"""Receives (routing key, message), one message at a time, in arrival order."""


class Inbox(Protocol):
    """A queue this process consumes; ``bind``/``unbind`` choose what it receives."""

    @property
    def name(self) -> str: ...

    async def bind(self, key: str) -> None: ...

    async def unbind(self, key: str) -> None: ...


class Bus(Protocol):
    topology: Topology

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None:
        """Connect and declare the topology; raise ``BrokerUnavailable`` if it cannot."""

    async def close(self) -> None: ...

    async def publish(
        self,
        key: str,
        message: Message,
        *,
        mandatory: bool = False,
        ttl: float | None = None,
        buffer: bool = False,
    ) -> None:
        """Route ``message`` by ``key`` on the events exchange.

        ``mandatory``: raise ``Unroutable`` when no queue is bound to ``key``.
        ``ttl``: seconds after which the broker drops the message undelivered.
        ``buffer``: while the broker is unreachable, hold it in the bounded outbox
        (``OutboxFull`` when full) instead of raising ``BrokerUnavailable``.
        """

    async def send(self, queue: str, message: Message) -> None:
        """Put ``message`` straight into the named queue (replies)."""

    async def open_inbox(self, spec: QueueSpec, handler: Handler) -> Inbox: ...

    def on_connection_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the broker connection drops."""


def create_bus(settings: Settings) -> Bus:
    """The bus ``settings.amqp_url`` names: ``memory://[name]`` or ``amqp://...``."""
    topology = Topology(settings.namespace)
    if settings.uses_memory_bus:
        from .bus_memory import MemoryBus

        return MemoryBus(settings.amqp_url, topology, max_payload=settings.max_payload_bytes)
    from .bus_amqp import AmqpBus

    return AmqpBus(settings, topology)
