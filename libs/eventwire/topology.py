"""Every exchange, queue and routing-key name and argument, declared in one place.

The events exchange is ``direct``: every key names exactly one target, so RabbitMQ delivers a
message only to the queues of the edge nodes that bound that key (routed, not broadcast).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from .errors import InvalidArgument

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
MAX_KEY_BYTES = 255  # AMQP short string: routing keys, queue names, message ids
# Replicas of every quorum queue (jobs, dead jobs, node queues on a cluster): survives the loss
# of one node of three. RabbitMQ uses fewer where the cluster has fewer nodes.
QUORUM_REPLICAS = 3
# RabbitMQ refuses a message expiration above 2^32-1 ms (~49.7 days) with a channel error that
# costs the whole connection. Calls wait for a person's answer: a day is far beyond any use
# (Open WebUI's default is 300 s) and well inside what the broker takes.
MAX_CALL_TIMEOUT = 86_400.0
MAX_EXPIRATION_MS = 2**32 - 1


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
    # Consumed with acknowledgements: what was delivered but not yet handled goes back to the
    # queue if the consuming connection dies (with the broker node it was on).
    acked: bool = False


def _room(prefix: str) -> int:
    return MAX_KEY_BYTES - len(prefix.encode())


# The longest id (in UTF-8 bytes) whose routing key still fits an AMQP short string.
MAX_SESSION_ID_BYTES = _room(SESSION_PREFIX)
MAX_USER_ID_BYTES = _room(USER_PREFIX)
MAX_TASK_ID_BYTES = _room(TASK_PREFIX)


def _fits(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        # Four bytes per character at most: only long strings need encoding to be measured.
        if len(value) * 4 > limit and (size := len(value.encode())) > limit:
            raise ValueError(f"{size} bytes, over the {limit}-byte limit")
        return value

    return AfterValidator(check)


# Wire field types (``protocol``): what fits where the value ends up on AMQP, so a message
# that does not fit fails to decode (a ``ProtocolError``) instead of failing later, mid-use.
Name = Annotated[str, Field(min_length=1), _fits(MAX_KEY_BYTES)]
"""A queue name, message id or correlation id: an AMQP short string."""
Ref = Annotated[str, _fits(MAX_KEY_BYTES)]
"""An id carried along (chat, message): bounded like a name, may be empty."""
UserId = Annotated[str, Field(min_length=1), _fits(MAX_USER_ID_BYTES)]
SessionId = Annotated[str, Field(min_length=1), _fits(MAX_SESSION_ID_BYTES)]
TaskId = Annotated[str, Field(min_length=1), _fits(MAX_TASK_ID_BYTES)]
CallTimeout = Annotated[float, Field(gt=0, le=MAX_CALL_TIMEOUT, allow_inf_nan=False)]


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


MAX_CHANNEL_ID_BYTES = _room(CHANNEL_PREFIX)
ChannelId = Annotated[str, Field(min_length=1), _fits(MAX_CHANNEL_ID_BYTES)]


def channel_key(channel_id: str) -> str:
    return _key(CHANNEL_PREFIX, channel_id)


def channel_of(key: str) -> str | None:
    """The channel id a ``channel.<id>`` key names, else None."""
    return key[len(CHANNEL_PREFIX) :] if key.startswith(CHANNEL_PREFIX) else None


# python-socketio's client manager (eventwire_edge.sio): a server binds the room key of every
# room it holds members of (a sid is its own room, so emits, calls and room operations for a
# sid use its room key) and the namespace key while it holds any socket in that namespace.
# The namespace part never contains a dot (escaped), so distinct (namespace, room) pairs
# never share a key; parts too long for the 255-byte limit are replaced by their SHA-256.
SIO_ROOM_PREFIX = "sio.room."
SIO_ALL_PREFIX = "sio.all."
_HASHED = "#"  # a part replaced by its hash; room names starting with it are always hashed
_MAX_NAMESPACE_PART = 100  # leaves room for a hashed room part: 9 + 100 + 1 + 65 < 255


def sio_all_key(namespace: str) -> str:
    """Bound by every server with a socket in ``namespace``: broadcasts (``to=None``)."""
    return SIO_ALL_PREFIX + _namespace_part(namespace)


def sio_room_key(namespace: str, room: str) -> str:
    """Bound by the servers holding members of ``room``, or the one holding the sid ``room``."""
    key = f"{SIO_ROOM_PREFIX}{_namespace_part(namespace)}.{room}"
    if not room or room.startswith(_HASHED) or len(key.encode()) > MAX_KEY_BYTES:
        key = f"{SIO_ROOM_PREFIX}{_namespace_part(namespace)}.{_hashed(room)}"
    return key


def _namespace_part(namespace: str) -> str:
    part = namespace.replace("%", "%25").replace(".", "%2E")
    return part if len(part.encode()) <= _MAX_NAMESPACE_PART else _hashed(namespace)


def _hashed(text: str) -> str:
    return _HASHED + hashlib.sha256(text.encode()).hexdigest()


def _key(prefix: str, ident: str) -> str:
    key = prefix + ident
    if not ident or len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidArgument(f"routing key must be 1..{MAX_KEY_BYTES} bytes: {key[:80]!r}...")
    return key


class QueueType(StrEnum):
    CLASSIC = "classic"
    QUORUM = "quorum"


@dataclass(frozen=True, slots=True)
class Topology:
    """Names derived from one namespace, so deployments (and tests) never collide."""

    namespace: str = "eventwire"
    # Where edge node queues live: classic on one broker; quorum on a cluster, so a node queue
    # and its bindings survive the loss of the broker node that held it (README, "A cluster").
    node_queue_type: QueueType = QueueType.CLASSIC

    @property
    def events(self) -> ExchangeSpec:
        return ExchangeSpec(f"{self.namespace}.events")

    def node_queue(self, node_id: str, expires_s: float) -> QueueSpec:
        # Durable with x-expires: bindings survive a broker restart, so emits flushed from a
        # sender's outbox route before the edge has re-bound; a dead node's queue and its
        # bindings vanish after `expires_s` idle seconds, and calls to its sessions fail fast.
        # On a cluster it is a quorum queue: a classic one lives on one broker node, and while
        # that node is down it can be neither consumed nor declared again anywhere else.
        # Its consumer acknowledges too, so events in flight to the edge when the broker node of
        # its connection dies are delivered again, not lost.
        arguments: dict[str, Any] = {"x-expires": int(expires_s * 1000)}
        quorum = self.node_queue_type is QueueType.QUORUM
        if quorum:
            arguments |= _quorum()
        return QueueSpec(
            f"{self.namespace}.node.{node_id}", durable=True, arguments=arguments, acked=quorum
        )

    def mailbox(
        self, session_id: str, *, expires_s: float, max_events: int, max_bytes: int
    ) -> QueueSpec:
        """One session's mailbox (``eventwire.mailbox``): classic; deleted ``expires_s`` after
        its last consumer left; over its bounds it drops its oldest. Durable, as a node queue
        is: its bindings outlive a broker restart, so emits flushed from a sender's outbox
        route before the edge has declared it again (its letters, transient, do not)."""
        name = f"{self.namespace}.mailbox.{session_id}"
        if len(name.encode()) > MAX_KEY_BYTES:
            name = f"{self.namespace}.mailbox.{_hashed(session_id)}"
        arguments: dict[str, Any] = {
            "x-expires": max(1, int(expires_s * 1000)),
            "x-max-length": max_events,
            "x-max-length-bytes": max_bytes,
            "x-overflow": "drop-head",
        }
        return QueueSpec(name, durable=True, arguments=arguments, acked=True)

    def worker_queue(self, worker_id: str) -> QueueSpec:
        """Control messages for one worker: ``task.<id>`` while it runs that job, and
        ``WORKERS_KEY`` while it runs at all."""
        return QueueSpec(f"{self.namespace}.worker.{worker_id}", exclusive=True, auto_delete=True)

    @property
    def dead_jobs(self) -> QueueSpec:
        # Quorum like the jobs: what was parked must survive the loss of a broker node.
        return QueueSpec(f"{self.namespace}.jobs.dead", durable=True, arguments=_quorum())

    @property
    def jobs(self) -> QueueSpec:
        # A quorum queue counts deliveries (x-delivery-count), so a worker can tell a
        # redelivery and give up on a job that killed its workers; the broker's own
        # delivery limit is only a backstop above the worker's.
        return QueueSpec(
            f"{self.namespace}.jobs",
            durable=True,
            arguments={
                **_quorum(),
                "x-delivery-limit": JOB_DELIVERY_BACKSTOP,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dead_jobs.name,
            },
        )

    # Reply, presence and worker control queues are exclusive (hence transient): they die with
    # their connection, and with the broker node that held them, and the process declares
    # them again, under the same name, on whichever node it reconnects to.

    def reply_queue(self, process_id: str) -> QueueSpec:
        return QueueSpec(f"{self.namespace}.reply.{process_id}", exclusive=True, auto_delete=True)

    def presence_queue(self, process_id: str) -> QueueSpec:
        # Exclusive: when its process dies the broker deletes it at once, so nothing piles up.
        return QueueSpec(
            f"{self.namespace}.presence.{process_id}", exclusive=True, auto_delete=True
        )


def _quorum() -> dict[str, Any]:
    return {"x-queue-type": QueueType.QUORUM.value, "x-quorum-initial-group-size": QUORUM_REPLICAS}
