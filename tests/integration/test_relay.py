"""Relayed runs (what the Open WebUI Function uses): a worker's events, stream and calls come
back through the relay's own emitter and caller; same bodies on memory:// and RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eventwire import errors
from eventwire.protocol import JobUser
from eventwire.relay import RunRelay
from eventwire_worker import Worker, load_plugins
from tests.support.cluster import Cluster
from tests.support.tabs import eventually

PLUGINS = Path(__file__).parent.parent / "plugins"
EXAMPLES = Path(__file__).parents[2] / "services" / "worker" / "eventwire_worker" / "examples"


class Page:
    """Stands for Open WebUI's __event_emitter__ / __event_call__ of one chat."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.asked: list[dict[str, Any]] = []
        self.answers = answers or {}

    async def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def ask(self, event: dict[str, Any]) -> Any:
        self.asked.append(event)
        return self.answers.get(event.get("type", ""))

    def of_type(self, kind: str) -> list[Any]:
        return [e["data"] for e in self.events if e["type"] == kind]


@pytest.fixture
async def relay(cluster: Cluster) -> AsyncIterator[RunRelay]:
    relay = RunRelay(cluster.settings)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


@pytest.fixture
async def worker(cluster: Cluster) -> AsyncIterator[Worker]:
    registry = load_plugins(PLUGINS)
    registry.plugins.update(load_plugins(EXAMPLES).plugins)
    worker = Worker(cluster.settings, registry)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.close()


async def collect(relay: RunRelay, model: str, page: Page, **body: Any) -> str:
    text = []
    async for chunk in relay.run(
        model=model,
        body={"messages": [{"role": "user", "content": "hi"}], **body},
        user=JobUser(id="alice", name="Alice"),
        emit=page.emit,
        ask=page.ask,
        chat_id="chat-1",
        message_id="msg-1",
        session_id="owui-session",
    ):
        text.append(chunk)
    return "".join(text)


async def test_stream_and_events_come_back_through_the_relay(
    relay: RunRelay, worker: Worker
) -> None:
    page = Page()
    text = await collect(relay, "showcase", page)
    assert text  # the stream became the run's own output
    kinds = {e["type"] for e in page.events}
    assert {"status", "citation", "notification"} <= kinds
    assert "chat:message:delta" not in kinds  # deltas are the output, not events
    assert relay.runs == 0
    assert worker.stats.completed == 1


async def test_calls_are_asked_through_the_relay_and_answered(
    relay: RunRelay, worker: Worker
) -> None:
    page = Page({"confirmation": True, "input": "Ada"})
    assert await collect(relay, "asker", page, ask="confirmation") == "confirmed"
    assert await collect(relay, "asker", page, ask="input") == "input was Ada"
    assert [a["type"] for a in page.asked] == ["confirmation", "input"]
    declined = Page({"confirmation": False})
    assert await collect(relay, "asker", declined, ask="confirmation") == "took the cancel branch"


async def test_closing_the_run_stops_the_worker(relay: RunRelay, worker: Worker) -> None:
    page = Page()
    stream = relay.run(
        model="slow",
        body={"messages": []},
        user=JobUser(id="alice"),
        emit=page.emit,
        ask=page.ask,
        chat_id="c",
        message_id="m",
    )
    first = await anext(stream)  # the run is streaming on the worker
    assert first
    await stream.aclose()  # what Open WebUI's Stop does to the Function's generator
    await eventually(lambda: worker.stats.stopped == 1)
    assert worker.stats.completed == 0


async def test_a_failing_run_raises_its_error(relay: RunRelay, worker: Worker) -> None:
    with pytest.raises(errors.PluginError, match="boom"):
        await collect(relay, "boom", Page())


async def test_no_worker_fails_at_once(relay: RunRelay) -> None:
    with pytest.raises(errors.SessionOffline, match="no eventwire worker"):
        await collect(relay, "showcase", Page())
    with pytest.raises(errors.SessionOffline):
        await relay.models()


async def test_the_model_list_is_the_workers(relay: RunRelay, worker: Worker) -> None:
    ids = {m["id"] for m in await relay.models()}
    assert {"showcase", "asker", "slow"} <= ids


async def test_a_silent_worker_ends_the_run_with_a_timeout(relay: RunRelay, worker: Worker) -> None:
    stream = relay.run(
        model="slow",
        body={"messages": [], "seconds": 3600},
        user=JobUser(id="alice"),
        emit=Page().emit,
        ask=Page().ask,
        idle_timeout=0.0001,  # nothing arrives in time: the relay gives up and stops the run
    )
    with pytest.raises(errors.CallTimeout):
        async for _ in stream:
            pass
    await eventually(lambda: worker.stats.stopped == 1)
