"""Plugins on a worker, reached through an edge: same bodies on memory:// and RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eventwire_edge import EdgeServer
from eventwire_worker import Worker, load_plugins
from tests.support.cluster import Cluster, token
from tests.support.http import post
from tests.support.tabs import Tab, eventually

PLUGINS = Path(__file__).parent.parent / "plugins"


class Chat:
    """One edge, one worker on tests/plugins, and a helper to submit as a user."""

    def __init__(self, cluster: Cluster, edge: EdgeServer, worker: Worker) -> None:
        self.cluster, self.edge, self.worker = cluster, edge, worker

    async def submit(self, tab: Tab, model: str, **body: Any) -> str:
        form = {
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            "session_id": tab.sid,
            "chat_id": "chat-1",
            "id": "msg-1",
            **body,
        }
        status, answer = await post(
            f"{self.edge.url}/api/chat/completions", form, token=token(tab.name)
        )
        assert status == 200, answer
        assert answer["status"] is True
        return str(answer["task_id"])


@pytest.fixture
async def chat(cluster: Cluster) -> AsyncIterator[Chat]:
    edge = await cluster.edge()
    worker = Worker(cluster.settings, load_plugins(PLUGINS))
    await worker.start()
    try:
        yield Chat(cluster, edge, worker)
    finally:
        await worker.close()


def completion(tab: Tab) -> dict[str, Any]:
    done = [e["data"]["data"] for e in tab.events if e["data"]["type"] == "chat:completion"]
    return done[-1]


async def until_done(tab: Tab) -> dict[str, Any]:
    await tab.wait_for(
        lambda events: any(
            e["data"]["type"] == "chat:completion" and e["data"]["data"].get("done") for e in events
        )
    )
    return completion(tab)


def of_type(tab: Tab, kind: str) -> list[Any]:
    return [e["data"]["data"] for e in tab.events if e["data"]["type"] == kind]


async def test_broken_plugins_are_reported_and_the_rest_load() -> None:
    registry = load_plugins(PLUGINS)
    assert "probe" in registry.plugins
    assert "internals.py" in registry.errors
    assert "open_webui.models.users" in registry.errors["internals.py"]
    assert "SyntaxError" in registry.errors["broken.py"]
    assert "EVENTWIRE_INSTALL_REQUIREMENTS" in registry.errors["needs_lib.py"]


async def test_every_context_parameter(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "probe", task="title_generation", features={"web": True})
    await until_done(tab)
    [report] = of_type(tab, "probe")
    assert report["received"] == [
        *sorted(
            [
                "__event_emitter__",
                "__event_call__",
                "__user__",
                "__metadata__",
                "__model__",
                "__messages__",
                "__id__",
                "__files__",
                "__task__",
                "__task_body__",
                "__chat_id__",
                "__session_id__",
                "__message_id__",
                "__tools__",
            ]
        ),
        "__request__",
    ]
    assert report["user"] == {
        "id": "alice",
        "name": None,
        "email": None,
        "role": "user",
        "valves": {"units": "metric"},
    }
    meta = report["metadata"]
    assert meta["user_id"] == "alice"
    assert meta["session_id"] == tab.sid
    assert (meta["chat_id"], meta["message_id"]) == ("chat-1", "msg-1")
    assert meta["attempt"] == 1
    assert meta["redelivered"] is False
    assert meta["model"] == "probe"
    assert meta["features"] == {"web": True}
    assert report["has_event_token"] is True
    assert report["tool_headers"] == ["Authorization"]
    assert report["request"]["type"] == "Request"  # starlette's, as FastAPI hands plugins
    assert report["request"]["path"] == "/api/chat/completions"
    assert report["request"]["models"] == ["probe"]
    assert report["model"] == "probe"
    assert report["messages_is_body"] is True
    assert report["files_is_metadata"] is True
    assert report["ids"] == ["probe", "chat-1", tab.sid, "msg-1"]
    assert report["task"] == "title_generation"
    assert report["closure"] == "chat-1"
    assert completion(tab)["content"] == "probed"


async def test_declared_parameters_only_and_sync_runs_off_the_loop(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "bob")
    await chat.submit(tab, "declared")
    assert (await until_done(tab))["content"] == "bob in thread"


async def test_request_headers_reach_the_plugin(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    form = {"model": "probe", "messages": [], "session_id": tab.sid, "chat_id": "c", "id": "m"}
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{chat.edge.url}/api/chat/completions",
            json=form,
            headers={"Authorization": f"Bearer {token('alice')}", "X-Probe": "yes"},
        ) as response,
    ):
        assert response.status == 200
    await until_done(tab)
    assert of_type(tab, "probe")[0]["request"]["header"] == "yes"


async def test_async_stream_is_throttled_without_losing_text(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "streamer")
    final = await until_done(tab)
    expected = "".join(f"{i} " for i in range(200))
    assert final["content"] == expected
    deltas = of_type(tab, "chat:message:delta")
    assert "".join(d["content"] for d in deltas) == expected
    assert len(deltas) < 200  # batched, not one event per token


async def test_filters_run_around_the_pipe(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "echo_inlet", mark=True)
    final = await until_done(tab)
    assert final["content"] == "hi | inlet was here [outlet]"
    assert of_type(tab, "chat:message")[-1]["content"] == final["content"]


async def test_failure_ends_with_an_error_the_user_sees(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "boom")
    final = await until_done(tab)
    assert "boom: the model is on fire" in final["error"]["content"]
    dead = await eventually(chat.worker.jobs.take_dead)
    assert dead[0].job is not None
    assert dead[0].job.plugin == "boom"
    assert "ValueError: boom" in dead[0].error


async def test_unknown_model_is_an_error_event(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "no-such-model")
    final = await until_done(tab)
    assert "no pipe plugin 'no-such-model'" in final["error"]["content"]


@pytest.mark.parametrize(
    ("ask", "answer", "expected"),
    [
        ("confirmation", True, "confirmed"),
        ("confirmation", False, "took the cancel branch"),
        ("input", "Ada", "input was Ada"),
        ("execute", 42, "execute returned 42"),
    ],
)
async def test_call_kinds_answered_by_the_client(
    chat: Chat, ask: str, answer: Any, expected: str
) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")

    async def reply(data: dict[str, Any]) -> Any:
        assert data["data"]["type"] == ask
        return answer

    tab.answer = reply
    await chat.submit(tab, "asker", ask=ask)
    assert (await until_done(tab))["content"] == expected


async def test_wait_for_around_a_call_cancels_it_at_the_edge(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")

    async def never(_data: dict[str, Any]) -> Any:
        import asyncio

        await asyncio.Event().wait()

    tab.answer = never
    await chat.submit(tab, "asker", ask="wait_for")
    assert (await until_done(tab))["content"] == "gave up"
    await eventually(lambda: chat.edge.node.describe()["pending_calls"] == 0)


async def test_emitter_used_from_a_thread_and_after_return(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "lingering")
    await tab.wait_for(lambda _: len(of_type(tab, "notification")) == 2)
    contents = sorted(n["content"] for n in of_type(tab, "notification"))
    assert contents == ["after return", "from a thread"]


async def test_tool_call_and_private_methods(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    form = {
        "tool_id": "calc",
        "name": "add",
        "arguments": {"a": 2, "b": 3},
        "session_id": tab.sid,
        "chat_id": "c",
        "id": "m",
    }
    status, _ = await post(f"{chat.edge.url}/api/chat/tools", form, token=token("alice"))
    assert status == 200
    final = await until_done(tab)
    assert final["tool"] == {"id": "calc", "name": "add", "result": {"sum": 5, "for": "alice"}}

    tab.events.clear()
    form["name"] = "_private"
    await post(f"{chat.edge.url}/api/chat/tools", form, token=token("alice"))
    assert "has no method '_private'" in (await until_done(tab))["error"]["content"]


async def test_action(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    form = {"id": "m7", "chat_id": "c", "session_id": tab.sid, "messages": []}
    status, _ = await post(f"{chat.edge.url}/api/chat/actions/like", form, token=token("alice"))
    assert status == 200
    await tab.wait_for(lambda _: bool(of_type(tab, "action:result")))
    assert of_type(tab, "action:result")[0] == {
        "action_id": "like",
        "result": {"liked": "m7", "by": "alice"},
    }
    assert of_type(tab, "notification")[0]["content"] == "liked"


async def test_stop_a_running_task(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    task_id = await chat.submit(tab, "slow")
    await tab.wait_for(lambda _: bool(of_type(tab, "chat:message:delta")))

    status, body = await post(f"{chat.edge.url}/api/tasks/stop/{task_id}", token=token("mallory"))
    assert status == 403, body
    status, body = await post(f"{chat.edge.url}/api/tasks/stop/{task_id}", token=token("alice"))
    assert (status, body["status"]) == (200, True)
    final = await until_done(tab)
    assert "finished" not in final["content"]
    assert of_type(tab, "chat:tasks:cancel") == [{}]
    # Over: no worker runs it, so it might be queued; the stop is remembered, harmlessly.
    status, body = await post(f"{chat.edge.url}/api/tasks/stop/{task_id}", token=token("alice"))
    assert status == 200
    assert "not running" in body["message"]
    assert chat.worker.stats.stopped == 1
