"""The Open WebUI Function as Open WebUI calls it: a manifold of the workers' pipes whose runs
stream back through its own emitter and caller (on memory:// and RabbitMQ; the real Open WebUI
in a browser is tests/e2e/test_openwebui.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eventwire_worker import Worker
from tests.support.cluster import Cluster
from tests.support.owui_function import function_on, worker_on

PLUGINS = Path(__file__).parent.parent / "plugins"


@pytest.fixture
async def pipe(cluster: Cluster) -> AsyncIterator[Any]:
    async with function_on(cluster.settings) as function:
        yield function


@pytest.fixture
async def worker(cluster: Cluster) -> AsyncIterator[Worker]:
    async with worker_on(cluster.settings, PLUGINS) as worker:
        yield worker


async def run(pipe: Any, model: str, **extra: Any) -> tuple[str, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    async def emitter(event: dict[str, Any]) -> None:
        events.append(event)

    async def caller(event: dict[str, Any]) -> Any:
        return {"confirmation": True, "input": "Ada"}.get(event["type"])

    chunks = [
        chunk
        async for chunk in pipe.pipe(
            {"model": f"eventwire_workers.{model}", "messages": [], **extra},
            __user__={"id": "alice", "name": "Alice", "role": "user", "valves": {}},
            __metadata__={"chat_id": "c1", "message_id": "m1", "session_id": "s1"},
            __event_emitter__=emitter,
            __event_call__=caller,
        )
    ]
    return "".join(chunks), events


async def test_the_manifold_lists_the_workers_pipes(pipe: Any, worker: Worker) -> None:
    ids = {m["id"] for m in await pipe.pipes()}
    assert {"asker", "probe", "slow"} <= ids


async def test_a_run_streams_and_asks_through_open_webuis_helpers(
    pipe: Any, worker: Worker
) -> None:
    text, _ = await run(pipe, "asker", ask="input")
    assert text == "input was Ada"
    text, events = await run(pipe, "boom")
    assert "boom: the model is on fire" in text
    assert any(e["type"] == "status" and e["data"].get("done") for e in events)


async def test_without_workers_the_chat_says_so_at_once(pipe: Any) -> None:
    assert [m["id"] for m in await pipe.pipes()] == ["unavailable"]
    text, events = await run(pipe, "asker")
    assert "no eventwire worker is running" in text
    assert events[-1]["data"]["done"] is True
