"""The bus seam: what edge nodes, workers and the SDK need from a message broker.

This module imports no backend. Each backend owns a bus *and* its job queue in a package of
its own: ``eventwire.memory`` (one process, no broker) and ``eventwire.amqp`` (RabbitMQ, the
only place aio-pika is imported). ``eventwire.backends`` is the one place that picks one.

Guarantees every backend keeps (the contract suite in ``tests/contract`` checks them):
- a message published to a key reaches every inbox bound to that key, once each, and inboxes
  see one publisher's messages in the order it published them;
- ``mandatory`` publishes to a key nothing is bound to raise ``Unroutable`` at once;
- a message with a ``ttl`` that waits longer than that in a queue is never delivered;
- ``send`` to a queue that does not exist drops the message (as RabbitMQ does);
- an inbox's handler is called one message at a time, in arrival order, and a handler that
  raises loses that message only (it is logged), never the inbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from .protocol import Message
from .topology import QueueSpec, Topology

if TYPE_CHECKING:
    from .jobs import JobQueue
    from .mailbox import Mailboxes

Handler = Callable[[str, Message], Awaitable[None]]
"""Receives (routing key, message), one message at a time, in arrival order."""


class Inbox(Protocol):
    """A queue this process consumes; ``bind``/``unbind`` choose what it receives."""

    @property
    def name(self) -> str: ...

    async def bind(self, key: str) -> None:
        """Receive what is published to ``key``; kept across reconnects."""

    async def unbind(self, key: str) -> None: ...


class Bus(Protocol):
    topology: Topology

    @property
    def connected(self) -> bool: ...

    @property
    def outbox_depth(self) -> int:
        """Emits held while the broker is unreachable (always 0 where it cannot be)."""

    @property
    def reconnects(self) -> int:
        """Times the broker connection was restored after a loss (0 where it cannot be lost)."""

    async def start(self) -> None:
        """Connect and declare the topology; raise ``BrokerUnavailable`` if it cannot."""

    async def close(self) -> None: ...

    async def probe(self) -> bool:
        """Whether the broker answers right now (within the broker timeout); a miss also marks
        the connection lost. Tells a silent broker from a silent peer."""

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

    def job_queue(self) -> JobQueue:
        """This backend's durable job queue, on this bus's connection."""

    async def mailboxes(self) -> Mailboxes | None:
        """Session mailboxes on this bus's connection (recovery); None where the backend has
        none (then tabs cannot be recovered)."""

    def on_connection_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the broker connection drops."""
