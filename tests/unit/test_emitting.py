from __future__ import annotations

from typing import Any

import pytest

from eventwire import emitting
from eventwire.emitting import Batcher, Progress, Throttle, status


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)


async def test_progress_counts_and_ends_done() -> None:
    sink = Sink()
    progress = Progress(sink, 3, "Files")
    for name in "abc":
        await progress.step(name)
    assert [e["data"]["description"] for e in sink.events] == [
        "Files 1/3: a",
        "Files 2/3: b",
        "Files 3/3: c",
    ]
    assert [e["data"]["done"] for e in sink.events] == [False, False, True]


async def test_status_always_ends_done_even_on_error() -> None:
    sink = Sink()
    async with status(sink, "Working", done="Finished"):
        pass
    with pytest.raises(RuntimeError):
        async with status(sink, "Working"):
            raise RuntimeError("disk full")
    assert [(e["data"]["description"], e["data"]["done"]) for e in sink.events] == [
        ("Working", False),
        ("Finished", True),
        ("Working", False),
        ("Failed: disk full", True),
    ]


async def test_throttle_batches_and_flush_sends_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(emitting.time, "monotonic", lambda: now[0])
    sink = Sink()
    throttle = Throttle(sink, interval=1.0)
    await throttle.send("a")  # first goes at once
    await throttle.send("b")
    await throttle.send("c")  # inside the interval: held
    now[0] += 1.0
    await throttle.send("d")  # interval passed: b, c, d together
    await throttle.send("e")
    await throttle.flush()  # the forced final send
    assert [e["data"]["content"] for e in sink.events] == ["a", "bcd", "e"]


async def test_batcher() -> None:
    sink = Sink()
    batch = Batcher(sink, 2, lambda items: {"type": "chat:tags", "data": items})
    for tag in ("x", "y", "z"):
        await batch.add(tag)
    await batch.flush()
    assert [e["data"] for e in sink.events] == [["x", "y"], ["z"]]


async def test_held_text_goes_out_when_the_interval_ends_without_more_text() -> None:
    from eventwire.emitting import Throttle
    from tests.support.tabs import eventually

    sent: list[str] = []

    async def emit(event: dict[str, Any]) -> None:
        sent.append(event["data"]["content"])

    throttle = Throttle(emit, interval=0.05)
    await throttle.send("first ")
    await throttle.send("held ")  # inside the interval: waits, then leaves on its own
    assert sent == ["first "]
    await eventually(lambda: sent == ["first ", "held "])
    await throttle.flush()  # nothing left: no empty event
    assert sent == ["first ", "held "]
