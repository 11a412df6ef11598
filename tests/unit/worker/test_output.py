"""What the user sees of a run: deltas batched by the interval, exactly one final event."""

from __future__ import annotations

from typing import Any

from eventwire_worker.runner import RunOutput


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)


async def test_deltas_inside_the_interval_are_batched_and_nothing_is_lost() -> None:
    seen = Recorder()
    output = RunOutput(seen, interval=3600.0)  # nothing but the first send passes the clock
    for token in ["Hel", "lo", ", ", "wor", "ld"]:
        await output.delta(token)
    await output.flush()
    deltas = [e["data"]["content"] for e in seen.events if e["type"] == "chat:message:delta"]
    assert deltas == ["Hel", "lo, world"]
    assert output.content == "Hello, world"


async def test_a_stop_flushes_then_cancels_then_ends_once() -> None:
    seen = Recorder()
    output = RunOutput(seen, interval=3600.0)
    await output.delta("a")
    await output.delta("b")
    await output.stopped()
    await output.failed(RuntimeError("after the stop"))  # already ended: says nothing more
    assert [e["type"] for e in seen.events] == [
        "chat:message:delta",
        "chat:message:delta",
        "chat:tasks:cancel",
        "chat:completion",
    ]
    assert seen.events[-1]["data"] == {"done": True, "content": "ab"}


async def test_a_failure_ends_with_the_error_and_the_text_so_far() -> None:
    seen = Recorder()
    output = RunOutput(seen, interval=0.0)
    await output.delta("partial")
    await output.failed(ValueError("boom"))
    assert seen.events[-1] == {
        "type": "chat:completion",
        "data": {"done": True, "content": "partial", "error": {"content": "ValueError: boom"}},
    }
