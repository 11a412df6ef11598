"""Logging set-up: plain text, or one JSON object per line (``EVENTWIRE_LOG_FORMAT=json``).

A JSON line has ``time``, ``level``, ``logger``, ``message`` and, when known, the ids the record
concerns: ``node_id`` (the process's node or worker), ``user_id``, ``session_id``, ``task_id``.
They come from, in order: the record's ``extra=`` fields, the context of the task that logs
(``log_context`` / ``bind_log_context``: a job's task, a socket's handler), the process.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

ID_FIELDS = ("node_id", "user_id", "session_id", "task_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "eventwire_log_context", default=None
)
_process: dict[str, str] = {}


def set_process_node(node_id: str) -> None:
    """The node (or worker) id every record of this process carries."""
    _process["node_id"] = node_id


def bind_log_context(**ids: str | None) -> None:
    """Add ids to every record the current task (and tasks it starts) logs from now on.

    Call it at the top of a task's own body (a job run, a socket's handler): tasks copy their
    context when created, so nothing leaks to other tasks.
    """
    _context.set(_with(ids))


def _with(ids: dict[str, str | None]) -> dict[str, str]:
    return {**(_context.get() or {}), **{k: v for k, v in ids.items() if v}}


@contextlib.contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """``bind_log_context`` for the body of a ``with`` only."""
    token = _context.set(_with(ids))
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        known = {**_process, **(_context.get() or {})}
        for name in ID_FIELDS:
            value = getattr(record, name, None) or known.get(name)
            if value:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """The root logger of a command-line process: text, or JSON lines, on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
