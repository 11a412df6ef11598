"""The event types plugins send (Open WebUI's catalogue), validated before anything is sent.

Known types are checked against their model; any other type passes through unchanged, as
Open WebUI lets plugins define their own. Extra fields are kept: the browser may use them.
Every event, of any type, must be JSON: NaN and Infinity are refused (``not_json``), since
the browser's parser fails on the packet and drops the connection.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from .errors import EventValidationError


class _Data(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Status(_Data):
    description: str = ""
    done: bool = False
    hidden: bool = False


class Content(_Data):
    """chat:message:delta / message (append) and chat:message / replace (set)."""

    content: str


class Files(_Data):
    files: list[Any]


class Title(_Data):
    title: str


class Tags(_Data):
    tags: list[Any]


class Notification(_Data):
    type: Literal["info", "success", "warning", "error"] = "info"
    content: str


class Confirmation(_Data):
    title: str = ""
    message: str = ""


class Input(_Data):
    title: str = ""
    message: str = ""
    placeholder: str = ""
    value: Any = None
    type: str | None = None


class Execute(_Data):
    code: str


class Favorite(_Data):
    favorite: bool


_MAPPING: Any = TypeAdapter(dict[str, Any])

# type -> adapter of its `data`; aliases share one adapter.
_SCHEMAS: dict[str, TypeAdapter[Any]] = {}


def _register(adapter: TypeAdapter[Any], *names: str) -> None:
    for name in names:
        _SCHEMAS[name] = adapter


_register(TypeAdapter(Status), "status")
_register(_MAPPING, "chat:completion", "source", "citation")
_register(TypeAdapter(Content), "chat:message:delta", "message", "chat:message", "replace")
_register(TypeAdapter(Files), "chat:message:files", "files")
_register(TypeAdapter(Title | str), "chat:title")
_register(TypeAdapter(Tags | list[Any]), "chat:tags")
_register(TypeAdapter(Notification), "notification")
_register(TypeAdapter(Confirmation), "confirmation")
_register(TypeAdapter(Input), "input")
_register(TypeAdapter(Execute), "execute")
_register(TypeAdapter(Favorite), "chat:message:favorite")

KNOWN_TYPES = frozenset(_SCHEMAS)


def validate_event(event: Any) -> dict[str, Any]:
    """Check ``{"type", "data"}`` and return it unchanged; raise naming the bad field."""
    if not isinstance(event, dict):
        raise EventValidationError(
            f"event must be an object with 'type' and 'data', got {event!r:.80}"
        )
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise EventValidationError("event field 'type' must be a non-empty string")
    where = not_json(event)
    if where is not None:
        raise EventValidationError(
            f"invalid {kind!r} event: {where} is NaN or Infinity, which JSON cannot carry "
            "(the browser would drop the connection); send null or a string instead"
        )
    schema = _SCHEMAS.get(kind)
    if schema is None:
        return event
    try:
        schema.validate_python(event.get("data", {}))
    except ValidationError as exc:
        raise EventValidationError(_describe(kind, exc)) from exc
    return event


def not_json(value: Any) -> str | None:
    """Where ``value`` holds a NaN or an infinity (e.g. ``data.scores[2]``), else None.

    Iterative, so no nesting depth can exhaust the stack; floats are the only values JSON
    cannot carry that pack and validate without complaint everywhere else. The common case
    (nothing found) builds no paths.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return _path_to_non_finite(value)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


def _path_to_non_finite(value: Any) -> str:
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path.lstrip(".") or "the value"
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return "the value"


def _describe(kind: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        # Union members prefix the location with their name; keep only field names.
        loc = [str(p) for p in err["loc"] if not str(p)[:1].isupper() and p not in ("str",)]
        where = ".".join(["data", *loc])
        problems.append(f"{where}: {err['msg']}")
    return f"invalid {kind!r} event: " + "; ".join(problems)
