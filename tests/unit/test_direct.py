"""Which runs, events and calls skip the relay (``eventwire.direct``), and the Function's
decision from what it reads of Open WebUI."""

from __future__ import annotations

from typing import Any

import pytest

from eventwire.direct import DIRECT_EVENT_TYPES, direct_route, on_this_bus, same_broker
from eventwire.settings import Settings
from eventwire.topology import MAX_CALL_TIMEOUT
from tests.support.owui_function import load_function

URL = "amqp://guest:guest@127.0.0.1:5672/"
METADATA = {"chat_id": "c1", "message_id": "m1", "session_id": "sid-1"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (URL, "amqp://other:secret@localhost/"),  # credentials aside; localhost, default port
        (URL, "amqp://127.0.0.1:5672/%2F"),  # the default vhost, spelled out
        ("amqp://h1/,amqp://h2/", "amqp://h2:5672/"),  # one node of a cluster list
        ("memory://x", "memory://x"),
    ],
)
def test_the_same_broker(a: str, b: str) -> None:
    assert same_broker(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (URL, "amqp://127.0.0.1:5673/"),
        (URL, "amqp://127.0.0.1:5672/other"),
        (URL, "amqps://127.0.0.1/"),
        ("memory://x", "memory://y"),
    ],
)
def test_another_broker(a: str, b: str) -> None:
    assert not same_broker(a, b)


def test_on_this_bus_needs_the_manager_the_broker_and_the_namespace() -> None:
    manager = Settings(amqp_url=URL, namespace="owui")
    assert on_this_bus(manager, "amqp://localhost/", "owui")
    assert not on_this_bus(manager, URL, "workers")
    assert not on_this_bus(None, URL, "owui")  # Open WebUI on another manager


def test_a_run_of_a_users_own_session_gets_its_room_sid_and_the_display_only_types() -> None:
    route = direct_route(METADATA, user_id="alice", session_owner="alice", call_timeout=30)
    assert route is not None
    assert (route.room, route.sid, route.namespace) == ("user:alice", "sid-1", "/")
    assert route.events == DIRECT_EVENT_TYPES
    assert route.call_timeout == 30


def test_what_open_webui_saves_or_shares_is_never_direct() -> None:
    saved_or_shared = {"status", "message", "replace", "embeds", "files", "source", "citation"}
    shared = {"chat:message:error", "chat:tasks:cancel", "chat:message:follow_ups"}
    stream = {"chat:message:delta", "chat:message", "chat:completion"}
    assert not set(DIRECT_EVENT_TYPES) & (saved_or_shared | shared | stream)


def test_a_session_that_is_not_the_users_gets_no_direct_calls() -> None:
    for owner in ("mallory", None):
        route = direct_route(METADATA, user_id="alice", session_owner=owner)
        assert route is not None and route.sid is None


@pytest.mark.parametrize(
    "metadata",
    [
        {**METADATA, "chat_id": "channel:abc"},  # Open WebUI renders it into a channel message
        {**METADATA, "internal": True},  # Open WebUI drops its notifications
        {"session_id": "sid-1"},  # no message to address
        {**METADATA, "session_id": "s" * 300},  # no routing key holds that sid
    ],
)
def test_runs_open_webui_emits_for_differently_stay_on_the_relay(metadata: dict[str, Any]) -> None:
    assert direct_route(metadata, user_id="alice", session_owner="alice") is None


def test_open_webuis_caller_timeout_is_kept_within_what_the_broker_takes() -> None:
    route = direct_route(METADATA, user_id="a", session_owner="a", call_timeout=10**9)
    assert route is not None and route.call_timeout == MAX_CALL_TIMEOUT
    route = direct_route(METADATA, user_id="a", session_owner="a", call_timeout=0)
    assert route is not None and route.call_timeout is None  # Open WebUI's "no limit"


def function(direct: str = "auto", socket: Any = None) -> Any:
    pipe = load_function().Pipe()
    pipe.valves = pipe.Valves(AMQP_URL=URL, NAMESPACE="owui", DIRECT=direct)
    pipe._open_webui_socket = lambda: socket
    return pipe


def test_the_function_goes_direct_on_eventwires_manager_of_its_broker_and_namespace() -> None:
    sessions = {"sid-1": {"id": "alice"}}
    pipe = function(socket=(Settings(amqp_url=URL, namespace="owui"), sessions, 120))
    route = pipe._direct("alice", METADATA)
    assert route is not None and (route.sid, route.call_timeout) == ("sid-1", 120)


@pytest.mark.parametrize(
    ("direct", "socket"),
    [
        ("off", (Settings(amqp_url=URL, namespace="owui"), {}, None)),  # the valve says so
        ("auto", None),  # not inside Open WebUI
        ("auto", (None, {}, None)),  # plain Open WebUI: its own manager
        ("auto", (Settings(amqp_url=URL, namespace="other"), {}, None)),
    ],
)
def test_otherwise_the_function_relays_everything(direct: str, socket: Any) -> None:
    assert function(direct, socket)._direct("alice", METADATA) is None


def test_the_valve_takes_only_auto_or_off() -> None:
    with pytest.raises(ValueError):
        function("on")
