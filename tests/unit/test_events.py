from __future__ import annotations

from typing import Any

import pytest

from eventwire.errors import EventValidationError
from eventwire.events import KNOWN_TYPES, validate_event

VALID: list[dict[str, Any]] = [
    {"type": "status", "data": {"description": "Step 1/3", "done": False, "hidden": False}},
    {"type": "status", "data": {"description": "x", "done": True, "action": "web_search"}},
    {"type": "chat:completion", "data": {"content": "hi", "done": True}},
    {"type": "chat:message:delta", "data": {"content": "par"}},
    {"type": "message", "data": {"content": "tial"}},
    {"type": "chat:message", "data": {"content": "all"}},
    {"type": "replace", "data": {"content": "all"}},
    {"type": "chat:message:files", "data": {"files": []}},
    {"type": "files", "data": {"files": [{"type": "image", "url": "/x.png"}]}},
    {"type": "chat:title", "data": "A title"},
    {"type": "chat:title", "data": {"title": "A title"}},
    {"type": "chat:tags", "data": ["a", "b"]},
    {"type": "chat:tags", "data": {"tags": ["a"]}},
    {"type": "source", "data": {"document": ["d"], "metadata": [{}], "source": {"name": "n"}}},
    {"type": "citation", "data": {"document": ["d"]}},
    {"type": "notification", "data": {"type": "warning", "content": "careful"}},
    {"type": "confirmation", "data": {"title": "Sure?", "message": "Really?"}},
    {"type": "input", "data": {"title": "Name", "message": "?", "placeholder": "you"}},
    {"type": "execute", "data": {"code": "return 1"}},
    {"type": "chat:message:favorite", "data": {"favorite": True}},
    {"type": "my:custom", "data": 42},
]

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"type": "status", "data": {"done": "yes"}}, "data.done"),
    ({"type": "chat:message:delta", "data": {}}, "data.content"),
    ({"type": "chat:message", "data": {"content": 5}}, "data.content"),
    ({"type": "files", "data": {"files": "f.png"}}, "data.files"),
    ({"type": "notification", "data": {"type": "fatal", "content": "x"}}, "data.type"),
    ({"type": "notification", "data": {"type": "info"}}, "data.content"),
    ({"type": "execute", "data": {"code": None}}, "data.code"),
    ({"type": "chat:message:favorite", "data": {}}, "data.favorite"),
    ({"type": "chat:title", "data": 7}, "chat:title"),
    ({"type": "", "data": {}}, "'type'"),
    ({"data": {}}, "'type'"),
]


def test_catalogue_is_covered() -> None:
    assert {e["type"] for e in VALID} - {"my:custom"} == KNOWN_TYPES


@pytest.mark.parametrize("event", VALID, ids=lambda e: e["type"])
def test_valid_events_pass_unchanged(event: dict[str, Any]) -> None:
    assert validate_event(event) is event


@pytest.mark.parametrize(("event", "field"), INVALID, ids=lambda v: str(v)[:40])
def test_invalid_events_name_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(EventValidationError, match=field.replace(".", r"\.")):
        validate_event(event)


@pytest.mark.parametrize("event", [None, "status", ["status"], 3])
def test_non_objects_are_refused(event: Any) -> None:
    with pytest.raises(EventValidationError, match="must be an object"):
        validate_event(event)
