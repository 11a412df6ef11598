"""The socket gate: identity at connect, then rate and size, once, before any handler."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from eventwire import errors
from eventwire.auth import Identity, mint_token
from eventwire_edge.gate import Gate, Member
from eventwire_edge.settings import EdgeSettings

SECRET = "gate-unit-test-secret-" + "0123456789" * 5


class Host:
    def __init__(self, refuse: errors.EventwireError | None = None) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.refuse = refuse

    async def open_session(self, sid: str, member: Member) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.opened.append(f"{sid}:{member.identity.id}")

    async def close_session(self, sid: str, member: Member, reason: str | None = None) -> None:
        self.closed.append(sid)

    def verified(self, sid: str, token: object) -> Identity | None:
        return None


class RecordingGate(Gate):
    def __init__(self, host: Host, **settings: Any) -> None:
        super().__init__(EdgeSettings(webui_secret_key=SECRET, **settings), host)
        self.errors: list[tuple[str, str]] = []
        self.handled: list[Any] = []

        async def echo(sid: str, member: Member, data: Any) -> Any:
            self.handled.append(data)
            return {"echo": data, "user": member.identity.id}

        self.handle({"echo": echo})

    async def send_error(self, sid: str, error: errors.EventwireError) -> None:
        self.errors.append((sid, error.code))


async def connect(gate: Gate, sid: str, user: str = "alice") -> None:
    await gate.trigger_event("connect", sid, {}, {"token": mint_token(user, SECRET)})


async def test_bad_tokens_are_refused_with_a_code_and_never_reach_the_node() -> None:
    host = Host()
    gate = RecordingGate(host)
    for auth in (
        None,
        {},
        {"token": "x.y.z"},
        {"token": mint_token("a", "another-secret-" + "9" * 40)},
    ):
        with pytest.raises(socketio.exceptions.ConnectionRefusedError) as refused:
            await gate.trigger_event("connect", "s1", {}, auth)
        assert refused.value.error_args["data"] == {"code": "invalid_token"}
    assert gate.stats.connects_refused == 4
    assert host.opened == [] and gate.member("s1") is None


async def test_a_node_that_refuses_leaves_no_member_behind() -> None:
    gate = RecordingGate(Host(refuse=errors.BrokerUnavailable("edge node is starting")))
    with pytest.raises(socketio.exceptions.ConnectionRefusedError):
        await connect(gate, "s1")
    assert gate.member("s1") is None


async def test_accepted_events_reach_their_handler_with_the_member() -> None:
    host = Host()
    gate = RecordingGate(host)
    await connect(gate, "s1")
    assert host.opened == ["s1:alice"]
    assert await gate.trigger_event("echo", "s1", {"x": 1}) == {"echo": {"x": 1}, "user": "alice"}
    await gate.trigger_event("disconnect", "s1", "client disconnect")
    assert host.closed == ["s1"]


async def test_unknown_events_and_strangers_get_named_errors() -> None:
    gate = RecordingGate(Host())
    await gate.trigger_event("echo", "ghost", {})  # never connected
    await connect(gate, "s1")
    await gate.trigger_event("no-such-event", "s1", {})
    assert gate.errors == [("ghost", "forbidden"), ("s1", "unknown_event")]
    assert (gate.stats.client_requests_denied, gate.stats.client_errors) == (1, 1)
    assert gate.handled == []


async def test_a_flood_gets_one_error_per_run_and_oversized_packets_are_refused() -> None:
    gate = RecordingGate(Host(), client_event_rate=0.001, client_event_burst=2)
    await connect(gate, "s1")
    for n in range(5):
        await gate.trigger_event("echo", "s1", n)
    assert gate.handled == [0, 1]
    assert gate.errors == [("s1", "rate_limited")]
    assert gate.stats.client_events_limited == 3

    roomy = RecordingGate(Host(), max_client_packet_bytes=100)
    await connect(roomy, "s2")
    await roomy.trigger_event("echo", "s2", "x" * 200)
    assert roomy.errors == [("s2", "payload_too_large")]
    assert roomy.stats.client_packets_too_large == 1 and roomy.handled == []
