"""Every exchange, queue and routing-key name and argument, declared in one place.

The events exchange is ``direct``: every key names exactly one target, so RabbitMQ delivers a
message only to the queues of the edge nodes that bound that key (routed, not broadcast).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SESSION_PREFIX = "session."
USER_PREFIX = "user."
TASK_PREFIX = "task."
RUN_PREFIX = "run."  # a relayed run's events and calls go to the relay serving it (relay.py)
# Every worker's control queue is bound to this key: questions any worker may answer
# (which models are loaded). A mandatory publish fails fast when no worker runs.
WORKERS_KEY = "workers"
# Fixed, so every process declares the jobs queue identically; above any worker's own
# give-up rule (EVENTWIRE_JOB_MAX_ATTEMPTS <= 20).
JOB_DELIVERY_BACKSTOP = 25
MAX_KEY_BYTES = 255  # AMQP short string


class ExchangeType(StrEnum):
    DIRECT = "direct"
    FANOUT = "fanout"


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    name: str
    type: ExchangeType = ExchangeType.DIRECT
    durable: bool = True


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    durable: bool = False
    exclusive: bool = False
    auto_delete: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)


def session_key(session_id: str) -> str:
    return _key(SESSION_PREFIX, session_id)


def user_key(user_id: str) -> str:
    return _key(USER_PREFIX, user_id)


def task_key(task_id: str) -> str:
    return _key(TASK_PREFIX, task_id)


def run_key(run_id: str) -> str:
    return _key(RUN_PREFIX, run_id)


def session_of(key: str) -> str | None:
    """The session id a ``session.<sid>`` key names, else None."""
    return key[len(SESSION_PREFIX) :] if key.startswith(SESSION_PREFIX) else None


CHANNEL_PREFIX = "channel."
# Every presence replica binds this one key on the events exchange: a direct exchange delivers
# a message to every queue bound with its key, so announcements reach every replica.
PRESENCE_KEY = "presence"


def channel_key(channel_id: str) -> str:
    return _key(CHANNEL_PREFIX, channel_id)


def channel_of(key: str) -> str | None:
    """The channel id a ``channel.<id>`` key names, else None."""
    return key[len(CHANNEL_PREFIX) :] if key.startswith(CHANNEL_PREFIX) else None


def _key(prefix: str, ident: str) -> str:
    key = prefix + ident
    if not ident or len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"routing key must be 1..{MAX_KEY_BYTES} bytes: {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class Topology:
    """Names derived from one namespace, so deployments (and tests) never collide."""

    namespace: str = "eventwire"

    @property
    def events(self) -> ExchangeSpec:
        return ExchangeSpec(f"{self.namespace}.events")

    def node_queue(self, node_id: str, expires_s: float) -> QueueSpec:
        # Durable with x-expires: bindings survive a broker restart, so emits flushed from a
        # sender's outbox route before the edge has re-bound; a dead node's queue and its
        # bindings vanish after `expires_s` idle seconds, and calls to its sessions fail fast.
        return QueueSpec(
            f"{self.namespace}.node.{node_id}",
            durable=True,
            arguments={"x-expires": int(expires_s * 1000)},
        )

    def worker_queue(self, worker_id: str) -> QueueSpec:
        """Control messages for one worker: ``task.<id>`` while it runs that job, and
        ``WORKERS_KEY`` while it runs at all."""
        return QueueSpec(f"{self.namespace}.worker.{worker_id}", exclusive=True, auto_delete=True)

    @property
    def dead_jobs(self) -> QueueSpec:
        return QueueSpec(f"{self.namespace}.jobs.dead", durable=True)

    @property
    def jobs(self) -> QueueSpec:
        # A quorum queue counts deliveries (x-delivery-count), so a worker can tell a
        # redelivery and give up on a job that killed its workers; the broker's own
        # delivery limit is only a backstop above the worker's.
        return QueueSpec(
            f"{self.namespace}.jobs",
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": JOB_DELIVERY_BACKSTOP,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dead_jobs.name,
            },
        )

    def reply_queue(self, process_id: str) -> QueueSpec:
        return QueueSpec(f"{self.namespace}.reply.{process_id}", exclusive=True, auto_delete=True)

    def presence_queue(self, process_id: str) -> QueueSpec:
        # Exclusive: when its process dies the broker deletes it at once, so nothing piles up.
        return QueueSpec(
            f"{self.namespace}.presence.{process_id}", exclusive=True, auto_delete=True
        )
