"""Messages that travel between processes over the bus (never to browsers).

Each is a pydantic model with a literal ``kind``; ``codec`` turns them into bytes. Every id is
typed by where it ends up on AMQP (``topology``: routing-key parts, queue names, at most 255
bytes with their prefix), so an off-limits message fails to decode instead of failing mid-use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .topology import CallTimeout, ChannelId, Name, Ref, SessionId, TaskId, UserId

SOCKET_EVENT = "events"  # the Socket.IO event name Open WebUI's frontend listens to
# Request headers a job never carries: jobs rest in durable queues (jobs, dead letters), and a
# user's bearer token or session cookie there outlives the request. A run gets a token of its
# own instead (scoped to its chat message).
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Emit(_Message):
    """Fire-and-forget: deliver ``payload`` to every socket the routing key names."""

    kind: Literal["emit"] = "emit"
    user_id: UserId
    payload: dict[str, Any]
    event: Name = SOCKET_EVENT
    # Wall-clock time the SDK published it (``time.time()``): the edge's delivery latency, and
    # the order a session handed over from a draining edge gets its events in (``Handoff``).
    at: float | None = None


class CallRequest(_Message):
    """Ask one session and wait: the edge answers on ``reply_to`` with a ``CallReply``."""

    kind: Literal["call"] = "call"
    id: Name
    user_id: UserId
    session_id: SessionId
    payload: dict[str, Any]
    timeout: CallTimeout
    reply_to: Name
    event: Name = SOCKET_EVENT
    # Wall-clock time it was asked (``time.time()``): a call asked again on a recovered
    # session waits only what is left of its timeout.
    at: float | None = None


class CallCancel(_Message):
    """The caller gave up: the edge stops waiting for the client."""

    kind: Literal["cancel"] = "cancel"
    id: Name
    session_id: SessionId


class CallReply(_Message):
    """The client's answer, or the named error (``errors`` code) that prevented one."""

    kind: Literal["reply"] = "reply"
    id: Name
    ok: bool
    value: Any = None
    error: Name | None = None
    message: str = ""


class JobUser(_Message):
    """Who a job runs for: Open WebUI's ``__user__`` fields, plus their UserValves by plugin."""

    id: UserId
    name: str | None = None
    email: str | None = None
    role: str = "user"
    valves: dict[str, dict[str, Any]] = Field(default_factory=dict)


class DirectRoute(_Message):
    """Where a relayed run reaches the user's tabs without its relay (``eventwire.direct``):
    Open WebUI on ``EventwireManager`` on this broker and namespace. Events whose type is in
    ``events`` go to ``room`` as python-socketio emits (``SioEmit``); calls go to the tab
    ``sid`` (``SioCall``; None: through the relay). ``call_timeout``: Open WebUI's own."""

    namespace: str = "/"
    room: Name
    sid: SessionId | None = None
    events: tuple[Name, ...] = ()
    call_timeout: CallTimeout | None = None


class Job(_Message):
    """A pipeline run for a worker: a Pipe completion, a Tool method call or an Action."""

    kind: Literal["job"] = "job"
    id: TaskId
    type: Literal["completion", "tool", "action"]
    plugin: str  # model id (``pipe`` or ``pipe.sub``), tool id, or action id
    body: dict[str, Any]
    user: JobUser
    session_id: SessionId | None = None
    chat_id: Ref | None = None
    message_id: Ref | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # never CREDENTIAL_HEADERS
    # Set when the run is relayed (an Open WebUI Function submitted it): the routing key its
    # events and calls go to, instead of the user's sockets (``topology.run_key``).
    relay: Name | None = None
    direct: DirectRoute | None = None  # a relayed run's events and calls that skip the relay
    method: str | None = None  # a tool job's method name
    arguments: dict[str, Any] = Field(default_factory=dict)  # a tool job's arguments

    @field_validator("headers")
    @classmethod
    def _without_credentials(cls, headers: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}


class StopTask(_Message):
    """Cancel a running job; the worker holding it answers with a ``CallReply``."""

    kind: Literal["stop"] = "stop"
    id: Name
    task_id: TaskId
    user_id: UserId
    role: str = "user"
    reply_to: Name


class ChannelEmit(_Message):
    """A channel event (typing, read markers ...) for every member of ``channel.<id>``."""

    kind: Literal["channel"] = "channel"
    channel_id: ChannelId
    payload: dict[str, Any]
    event: Name = "events:channel"


class PresentSession(_Message):
    """One live session as presence sees it (a value, not a message)."""

    session_id: SessionId
    user_id: UserId
    models: tuple[str, ...] = ()  # models the session reported with ``usage`` lately


class _Announcement(_Message):
    node_id: Name
    incarnation: Name  # one per node process: a restarted node never inherits old state
    seq: int = Field(ge=0)  # the node's change counter
    # Its sessions' tabs can be recovered on another node (mailboxes): when it dies, calls to
    # them wait for the tab to come back instead of failing as offline. On every announcement,
    # so a replica knows it from the first one it hears.
    recovers: bool = False


class PresenceChange(_Announcement):
    """A session joined, changed its models, or (``online=False``) left its node."""

    kind: Literal["presence.change"] = "presence.change"
    session: PresentSession
    online: bool = True


class PresenceBeat(_Announcement):
    """A node is alive at ``seq``; ``leaving``: it is shutting down cleanly."""

    kind: Literal["presence.beat"] = "presence.beat"
    leaving: bool = False


class PresenceSnapshot(_Announcement):
    """Every session of a node at ``seq``, in parts; sent only to the replica that asked."""

    kind: Literal["presence.snapshot"] = "presence.snapshot"
    sessions: list[PresentSession]
    part: int = 0
    last: bool = True
    peers: list[str] = Field(default_factory=list)  # other nodes the sender sees as live


class PresenceDraining(_Announcement):
    """A node is draining: its sockets reconnect elsewhere, and the nodes they land on ask it
    (a ``HandoffAsk`` to ``queue``) for what their users were sent meanwhile."""

    kind: Literal["presence.draining"] = "presence.draining"
    queue: Name


class HandoffAsk(_Message):
    """To a draining node: ``session_id`` of ``user_id`` now lives on the node of ``reply_to``;
    send it (a ``Handoff``) the user's events you kept since you told its sockets to leave."""

    kind: Literal["handoff.ask"] = "handoff.ask"
    user_id: UserId
    session_id: SessionId
    reply_to: Name


class Handoff(_Message):
    """What a draining node kept for ``user_id``, for the new ``session_id``, in arrival order.

    A node also sends one (empty, its own ``node_id``) to its own queue as a marker: when it
    comes back, every event routed to the node before the ask has arrived.
    """

    kind: Literal["handoff"] = "handoff"
    node_id: Name
    user_id: UserId
    session_id: SessionId
    emits: list[Emit] = Field(default_factory=list)
    last: bool = True  # a large handoff comes in parts; the asker waits for the last


class PresenceSync(_Message):
    """Ask ``node_id`` (every node when None) for a snapshot, sent to ``reply_to``."""

    kind: Literal["presence.sync"] = "presence.sync"
    reply_to: Name
    node_id: Name | None = None


class ListModels(_Message):
    """Which models do the workers offer? Any one worker answers with a ``CallReply``.

    Published to ``topology.WORKERS_KEY``; the value is ``[{"id", "name"}, ...]``.
    """

    kind: Literal["list_models"] = "list_models"
    id: Name
    reply_to: Name


class SioEmit(_Message):
    """A python-socketio emit, for this server's members of ``rooms[index]`` (of the whole
    namespace when ``rooms`` is None). ``args`` are the Socket.IO arguments, as given.

    An emit to several rooms is published once per room key; a server skips members of the
    rooms before ``index``, so a sid in two rooms gets it once. ``host`` (the emitting
    manager) already delivered to its own members and drops its copies.
    """

    kind: Literal["sio.emit"] = "sio.emit"
    host: str
    namespace: str
    event: str
    args: list[Any]
    rooms: list[str] | None = None
    index: int = Field(0, ge=0)
    skip: list[str] = Field(default_factory=list)


class SioCall(_Message):
    """An emit whose acknowledgement a caller awaits: each server holding members of ``room``
    answers on ``reply_to`` with a ``CallReply`` (value: the ack's arguments) or the error
    that prevented one (``client_disconnected``). A ``CallCancel`` with the same id ends it."""

    kind: Literal["sio.call"] = "sio.call"
    id: str
    namespace: str
    event: str
    args: list[Any]
    room: str
    skip: list[str] = Field(default_factory=list)
    reply_to: str
    timeout: float | None = Field(None, gt=0)


class SioRoomOp(_Message):
    """Put ``sid`` into or out of ``room``, or close ``room`` (every member leaves), on the
    server that holds it. ``enter`` is confirmed with a ``CallReply`` on ``reply_to``: once
    it returns, that server is bound to the room's key and emits to the room reach it."""

    kind: Literal["sio.room"] = "sio.room"
    op: Literal["enter", "leave", "close"]
    host: str
    namespace: str
    room: str
    sid: str | None = None
    id: str | None = None
    reply_to: str | None = None


class SioDisconnect(_Message):
    """Disconnect ``sid`` from ``namespace`` on the server that holds it."""

    kind: Literal["sio.disconnect"] = "sio.disconnect"
    namespace: str
    sid: str


Message = Annotated[
    Emit
    | CallRequest
    | CallCancel
    | CallReply
    | Job
    | StopTask
    | ListModels
    | ChannelEmit
    | PresenceChange
    | PresenceBeat
    | PresenceSnapshot
    | PresenceDraining
    | PresenceSync
    | HandoffAsk
    | Handoff
    | SioEmit
    | SioCall
    | SioRoomOp
    | SioDisconnect,
    Field(discriminator="kind"),
]
