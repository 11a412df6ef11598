"""An in-process bus with the broker's semantics: direct routing, mandatory, TTL, replies.

Bodies are encoded and decoded exactly as on RabbitMQ, so size limits and validation match.
Buses built from the same ``memory://name`` URL in one process share one broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable

from .. import codec
from ..bus import Handler
from ..dispatch import deliver
from ..errors import BrokerUnavailable, Unroutable
from ..protocol import Message
from ..topology import QueueSpec, Topology
from .jobs import MemoryJobQueue

log = logging.getLogger(__name__)

_Delivery = tuple[str, bytes, float | None]  # key, body, deadline (monotonic)


class MemoryInbox:
    def __init__(self, broker: MemoryBroker, name: str, handler: Handler) -> None:
        self._broker = broker
        self._name = name
        self._handler = handler
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()
        self._keys: set[str] = set()
        self._task = asyncio.create_task(self._consume(), name=f"inbox:{name}")

    @property
    def name(self) -> str:
        return self._name

    async def bind(self, key: str) -> None:
        self._keys.add(key)
        self._broker.bindings[key].add(self)

    async def unbind(self, key: str) -> None:
        self._keys.discard(key)
        bound = self._broker.bindings.get(key)
        if bound is not None:
            bound.discard(self)
            if not bound:
                del self._broker.bindings[key]

    def put(self, delivery: _Delivery) -> None:
        self._queue.put_nowait(delivery)

    async def close(self) -> None:
        for key in list(self._keys):
            await self.unbind(key)
        self._broker.queues.pop(self._name, None)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _consume(self) -> None:
        while True:
            key, body, deadline = await self._queue.get()
            if deadline is not None and time.monotonic() > deadline:
                continue  # expired in the queue, as RabbitMQ's per-message TTL does
            await deliver(body, key, self._handler, self._name)


class MemoryBroker:
    def __init__(self) -> None:
        self.bindings: defaultdict[str, set[MemoryInbox]] = defaultdict(set)
        self.queues: dict[str, MemoryInbox] = {}


_BROKERS: dict[str, MemoryBroker] = {}


def _broker_for(url: str) -> MemoryBroker:
    return _BROKERS.setdefault(url.rstrip("/"), MemoryBroker())


class MemoryBus:
    def __init__(self, url: str, topology: Topology, *, max_payload: int) -> None:
        self.topology = topology
        self._url = url
        self._max_payload = max_payload
        self._broker: MemoryBroker | None = None
        self._inboxes: list[MemoryInbox] = []

    @property
    def connected(self) -> bool:
        return self._broker is not None

    @property
    def broker_key(self) -> str:
        """Identifies the shared in-process broker (URL and namespace)."""
        return f"{self._url.rstrip('/')}#{self.topology.namespace}"

    @property
    def max_payload(self) -> int:
        return self._max_payload

    @property
    def outbox_depth(self) -> int:
        return 0  # an in-process bus is never unreachable

    @property
    def reconnects(self) -> int:
        return 0

    def job_queue(self) -> MemoryJobQueue:
        return MemoryJobQueue(self)

    async def mailboxes(self) -> None:
        return None  # one process: a tab that reconnects gets a new session (README, Recovery)

    async def start(self) -> None:
        # Namespaces isolate like separate exchanges do on RabbitMQ.
        self._broker = _broker_for(self.broker_key)

    async def close(self) -> None:
        for inbox in self._inboxes:
            await inbox.close()
        self._inboxes.clear()
        self._broker = None

    async def probe(self) -> bool:
        return self.connected

    def _live(self) -> MemoryBroker:
        if self._broker is None:
            raise BrokerUnavailable("memory bus is not started")
        return self._broker

    async def publish(
        self,
        key: str,
        message: Message,
        *,
        mandatory: bool = False,
        ttl: float | None = None,
        buffer: bool = False,
    ) -> None:
        broker = self._live()
        body = codec.encode(message, self._max_payload)
        targets = broker.bindings.get(key)
        if not targets:
            if mandatory:
                raise Unroutable(f"no queue is bound to {key!r}")
            return
        deadline = None if ttl is None else time.monotonic() + ttl
        for inbox in targets:
            inbox.put((key, body, deadline))

    async def send(self, queue: str, message: Message) -> None:
        inbox = self._live().queues.get(queue)
        if inbox is not None:  # a vanished reply queue drops the message, as RabbitMQ does
            inbox.put((queue, codec.encode(message, self._max_payload), None))

    async def open_inbox(self, spec: QueueSpec, handler: Handler) -> MemoryInbox:
        broker = self._live()
        inbox = MemoryInbox(broker, spec.name, handler)
        broker.queues[spec.name] = inbox
        self._inboxes.append(inbox)
        return inbox

    def on_connection_lost(self, callback: Callable[[], None]) -> None:
        """An in-process bus never loses its connection."""
