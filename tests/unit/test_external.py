"""The allow-list of what chat-scoped tokens may push, and the gate's own refusals."""

from __future__ import annotations

import logging

import pytest

from eventwire import errors
from eventwire.auth import Identity
from eventwire.events import KNOWN_TYPES
from eventwire_edge.external import ScopedEvents, parse_event_types, warn_about
from eventwire_edge.server import EdgeServer
from eventwire_edge.settings import EdgeSettings as Settings

TOOL = Identity(id="alice", scope="event", chat_id="c", message_id="m")


def test_the_default_allows_display_events_only() -> None:
    allowed = parse_event_types(Settings().external_event_types)
    assert {"status", "message", "chat:message:delta", "replace", "chat:message"} <= allowed
    assert {"files", "chat:message:files", "source", "citation", "notification"} <= allowed
    assert {"chat:title", "chat:tags", "chat:completion"} <= allowed
    assert not allowed & {"execute", "confirmation", "input", "execute:python", "embeds"}
    assert allowed <= KNOWN_TYPES  # nothing unvalidated by default


def test_the_default_setting_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ScopedEvents(Settings())
    assert caplog.records == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("status", {"status"}),
        (" status , chat:message:delta ,", {"status", "chat:message:delta"}),
        ("status,status", {"status"}),
        ("", set()),
        (" , ", set()),
        ("my.custom-type_1", {"my.custom-type_1"}),
    ],
)
def test_parsing(value: str, expected: set[str]) -> None:
    assert parse_event_types(value) == expected


@pytest.mark.parametrize("bad", ["status;notification", "chat title", ":status", "x" * 65])
def test_malformed_names_are_a_configuration_error_naming_them(bad: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="EVENTWIRE_EXTERNAL_EVENT_TYPES") as exc:
        parse_event_types(f"status,{bad}")
    assert repr(bad) in exc.value.message


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTWIRE_EXTERNAL_EVENT_TYPES", "status,notification")
    assert ScopedEvents(Settings()).allowed == {"status", "notification"}


def test_a_bad_setting_stops_the_edge_at_start_up() -> None:
    with pytest.raises(errors.ConfigurationError):
        EdgeServer(Settings(amqp_url="memory://bad-setting", external_event_types="a b"))


@pytest.mark.parametrize("powerful", ["execute", "confirmation", "input"])
def test_allowing_more_than_display_is_honoured_with_a_warning(
    powerful: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        gate = ScopedEvents(Settings(external_event_types=f"status,{powerful}"))
    assert powerful in gate.allowed
    gate.admit_event(TOOL, {"type": powerful, "data": {}})  # the deployer's choice wins
    assert any(repr(powerful) in r.getMessage() for r in caplog.records)


def test_unknown_and_empty_lists_are_honoured_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        warn_about(parse_event_types("status,chat:message:follow_ups"))
        warn_about(frozenset())
    messages = [r.getMessage() for r in caplog.records]
    assert any("chat:message:follow_ups" in m for m in messages)
    assert any("may push no events" in m for m in messages)


@pytest.mark.parametrize("kind", ["execute", "no-such-type", "", None])
def test_refused_types_are_named_and_counted(kind: object) -> None:
    gate = ScopedEvents(Settings())
    with pytest.raises(errors.PermissionDenied, match=repr(kind)):
        gate.admit_event(TOOL, {"type": kind, "data": {}})
    assert gate.stats.scoped_events_forbidden == 1


def test_size_and_rate_refusals_are_counted() -> None:
    gate = ScopedEvents(
        Settings(max_client_packet_bytes=100, client_event_rate=1, client_event_burst=2)
    )
    with pytest.raises(errors.PayloadTooLarge, match="100-byte"):
        gate.admit_event(TOOL, {"type": "status", "data": {"description": "x" * 100}})
    gate.admit_event(TOOL, {"type": "status", "data": {"description": "short"}})
    gate.admit_rate(TOOL, "c", "m", now=0)
    gate.admit_rate(TOOL, "c", "m", now=0)
    with pytest.raises(errors.RateLimited):
        gate.admit_rate(TOOL, "c", "m", now=0)
    gate.admit_rate(TOOL, "c", "other-message", now=0)  # per token target
    stats = gate.describe()
    assert stats["scoped_events_too_large"] == 1
    assert stats["scoped_events_limited"] == 1
    assert stats["scoped_event_buckets"] == 2
