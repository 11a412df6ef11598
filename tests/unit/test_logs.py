"""JSON log lines: one object per record, with the ids the record concerns."""

from __future__ import annotations

import asyncio
import json
import logging

from eventwire import logs


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("eventwire.test", logging.WARNING, __file__, 1, message, (), None)
    rec.__dict__.update(extra)
    return rec


def test_a_line_has_time_level_logger_message_and_the_known_ids() -> None:
    logs.set_process_node("node-1")
    with logs.log_context(user_id="alice", session_id="s1"):
        line = logs.JsonFormatter().format(record("hello %s", task_id="t9"))
    entry = json.loads(line)
    assert entry.keys() == {
        "time",
        "level",
        "logger",
        "message",
        "node_id",
        "user_id",
        "session_id",
        "task_id",
    }
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "WARNING",
        "eventwire.test",
        "hello %s",
    )
    assert (entry["node_id"], entry["user_id"], entry["session_id"], entry["task_id"]) == (
        "node-1",
        "alice",
        "s1",
        "t9",
    )
    assert entry["time"].endswith("+00:00")
    # Outside the context only what the process knows remains.
    assert "user_id" not in json.loads(logs.JsonFormatter().format(record("bye")))


async def test_ids_bound_in_a_task_stay_in_that_task() -> None:
    seen: dict[str, str] = {}

    async def job(name: str) -> None:
        logs.bind_log_context(task_id=name)
        await asyncio.sleep(0)
        seen[name] = json.loads(logs.JsonFormatter().format(record("x")))["task_id"]

    await asyncio.gather(job("a"), job("b"))
    assert seen == {"a": "a", "b": "b"}
    assert "task_id" not in json.loads(logs.JsonFormatter().format(record("y")))


def test_exceptions_are_one_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), exc_info=__import__("sys").exc_info()
        )
    entry = json.loads(logs.JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exception"]
