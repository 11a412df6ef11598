"""Doors of the worker a hostile or unlucky user tries (issue 10): same bodies on both buses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from eventwire import codec
from eventwire.auth import EVENT_SCOPE, verify_token
from eventwire.protocol import Job
from eventwire.settings import Settings
from eventwire.topology import Topology
from eventwire_worker import Worker, load_plugins
from eventwire_worker.service import EXAMPLES
from tests.support.cluster import SECRET, Cluster, token
from tests.support.http import post
from tests.support.tabs import Tab, eventually

from .test_worker import PLUGINS, Chat, of_type, until_done


@pytest.fixture
async def chat(cluster: Cluster) -> AsyncIterator[Chat]:
    edge = await cluster.edge()
    worker = Worker(cluster.settings, load_plugins(PLUGINS))
    await worker.start()
    try:
        yield Chat(cluster, edge, worker)
    finally:
        await worker.close()


async def call_tool(
    chat: Chat, tab: Tab, name: str, arguments: dict[str, Any], **extra: Any
) -> tuple[int, Any]:
    form = {
        "tool_id": "whoami",
        "name": name,
        "arguments": arguments,
        "session_id": tab.sid,
        "chat_id": "chat-1",
        "id": "msg-1",
        **extra,
    }
    return await post(f"{chat.edge.url}/api/chat/tools", form, token=token(tab.name))


# -- 1. tool arguments never override injected context ---------------------------------------

FORGED = {
    "__user__": {"id": "root", "role": "admin"},
    "__metadata__": {"user_id": "root"},
    "__chat_id__": "someone-elses-chat",
    "__id__": "other-tool",
    "__event_call__": "not a function",
}


async def test_injected_names_as_tool_arguments_are_refused_with_422(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    status, body = await call_tool(chat, tab, "whoami", {"note": "hi", **FORGED})
    assert status == 422, body
    named = sorted(err["loc"][-1] for err in body["detail"])
    assert named == sorted(FORGED)
    assert all(err["type"] == "injected_argument" for err in body["detail"])


@pytest.mark.parametrize("method", ["whoami", "everything"])
async def test_undeclared_tool_arguments_are_refused_never_passed(chat: Chat, method: str) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    status, _ = await call_tool(chat, tab, method, {"note": "hi", "colour": "red"})
    assert status == 200  # the edge cannot know the tool's parameters: the worker refuses
    error = (await until_done(tab))["error"]
    assert error["code"] == "invalid_arguments"
    assert "colour" in error["content"]
    assert "note" in error["content"]  # names what the method does declare


@pytest.mark.parametrize("method", ["whoami", "everything"])
async def test_tool_sees_the_injected_identity(chat: Chat, method: str) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    status, _ = await call_tool(chat, tab, method, {"note": "hi"})
    assert status == 200
    result = (await until_done(tab))["tool"]["result"]
    assert result["user"] == {"id": "alice", "role": "user"}
    assert (result["meta_user"], result["chat_id"], result["id"]) == ("alice", "chat-1", "whoami")
    assert result["call_is_ours"] is True
    assert result["note"] == "hi"


async def test_a_forged_job_cannot_override_context_on_the_worker(chat: Chat) -> None:
    """A producer that skips the edge (anything that can publish jobs) is refused too."""
    tab = await chat.cluster.tab(chat.edge, "alice")
    job = Job(
        id="forged-1",
        type="tool",
        plugin="whoami",
        method="everything",
        arguments={"note": "hi", "__user__": {"id": "root", "role": "admin"}},
        body={},
        user={"id": "alice"},
        session_id=tab.sid,
        chat_id="chat-1",
        message_id="msg-1",
    )
    await chat.edge.node.jobs.submit(job)
    error = (await until_done(tab))["error"]
    assert error["code"] == "invalid_arguments"
    assert "__user__" in error["content"]


# -- 4. credentials are not kept in jobs ----------------------------------------------------


async def test_the_plugin_sees_headers_without_the_users_credentials(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    user_token = token("alice")
    form = {"model": "probe", "messages": [], "session_id": tab.sid, "chat_id": "c", "id": "m"}
    headers = {
        "Authorization": f"Bearer {user_token}",
        "Cookie": "token=cookie-secret; other=1",
        "X-Probe": "yes",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{chat.edge.url}/api/chat/completions", json=form, headers=headers) as answer,
    ):
        assert answer.status == 200
    await until_done(tab)
    request = of_type(tab, "probe")[0]["request"]
    assert request["header"] == "yes"
    assert request["cookies"] == {}
    # In place of the user's token: the run's scoped event token (this message's events only).
    scheme, _, scoped = request["authorization"].partition(" ")
    assert scheme == "Bearer"
    assert scoped != user_token
    identity = verify_token(scoped, SECRET, scopes=(EVENT_SCOPE,))
    assert (identity.id, identity.chat_id, identity.message_id) == ("alice", "c", "m")


async def take_raw(settings: Settings, queue: str) -> bytes | None:
    """One message off a queue, as the broker stores it (bytes at rest)."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        incoming = await declared.get(no_ack=True, fail=False)
        return None if incoming is None else incoming.body


async def test_jobs_at_rest_hold_no_credentials(amqp_cluster: Cluster) -> None:
    edge = await amqp_cluster.edge()
    topology = Topology(amqp_cluster.settings.namespace)
    user_token = token("alice")
    headers = {
        "Authorization": f"Bearer {user_token}",
        "Cookie": "token=cookie-secret",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "X-Probe": "yes",
    }
    form = {"model": "boom", "messages": [], "chat_id": "c", "id": "m"}

    async def submit() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{edge.url}/api/chat/completions", json=form, headers=headers) as answer,
        ):
            assert answer.status == 200

    def assert_clean(raw: bytes) -> None:
        for secret in (user_token, "cookie-secret", "cHJveHk6c2VjcmV0"):
            assert secret.encode() not in raw
        job = codec.decode(raw)
        assert isinstance(job, Job)
        kept = {k.lower(): v for k, v in job.headers.items()}
        assert kept["x-probe"] == "yes"
        assert not {"authorization", "cookie", "proxy-authorization"} & set(kept)

    await submit()  # no worker runs: the job waits on the jobs queue
    queued = await take_raw(amqp_cluster.settings, topology.jobs.name)
    assert queued is not None
    assert_clean(queued)

    worker = Worker(amqp_cluster.settings, load_plugins(PLUGINS))
    await worker.start()
    try:
        await submit()  # boom raises: the job is parked in the dead-letter queue
        dead = await eventually(lambda: take_raw(amqp_cluster.settings, topology.dead_jobs.name))
        assert_clean(dead)
    finally:
        await worker.close()


# -- 19. a drained run whose code still runs in a thread ------------------------------------


async def test_a_drained_run_is_handed_back_only_once_its_thread_returned(
    cluster: Cluster, tmp_path: Path
) -> None:
    edge = await cluster.edge()
    markers, release = tmp_path / "markers.jsonl", tmp_path / "release"
    first = Worker(cluster.settings, load_plugins(PLUGINS), worker_id="first")
    second = Worker(cluster.settings, load_plugins(PLUGINS), worker_id="second")
    await first.start()
    try:
        tab = await cluster.tab(edge, "alice")
        chat = Chat(cluster, edge, first)
        task_id = await chat.submit(tab, "blocking", markers=str(markers), release=str(release))
        await tab.wait_for(lambda _: bool(of_type(tab, "status")))

        await first.drain(grace=0)
        assert first.stuck == [task_id]  # its thread runs on: not handed back, not acked
        assert (first.stats.stuck, first.stats.handed_back) == (1, 0)
        assert done_events(tab) == []  # a drained run ends nothing the user sees

        await second.start()
        release.touch()  # the thread returns; only then does close() hand the job back
        await first.close()
        assert first.stats.handed_back == 1
        assert (await until_done(tab))["content"] == "done attempt=2"
    finally:
        release.touch()  # whatever failed, the blocking thread ends (the loop waits for it)
        await first.close()
        await second.close()
    runs = [json.loads(line) for line in markers.read_text().splitlines()]
    assert [(r["event"], r["attempt"]) for r in runs] == [
        ("start", 1),
        ("end", 1),
        ("start", 2),
        ("end", 2),
    ]
    assert not any(r["overlapped"] for r in runs)
    assert len(done_events(tab)) == 1


def done_events(tab: Tab) -> list[dict[str, Any]]:
    return [d for d in of_type(tab, "chat:completion") if d.get("done")]


# -- 20. stop of a run that has not started ----------------------------------------------------


@pytest.fixture
async def one_slot(cluster: Cluster) -> AsyncIterator[Chat]:
    edge = await cluster.edge()
    settings = cluster.settings.model_copy(update={"worker_concurrency": 1})
    worker = Worker(settings, load_plugins(PLUGINS))
    await worker.start()
    try:
        yield Chat(cluster, edge, worker)
    finally:
        await worker.close()


async def test_stop_a_queued_run_cancels_it_before_it_starts(one_slot: Chat) -> None:
    chat = one_slot
    alice = await chat.cluster.tab(chat.edge, "alice")
    bob = await chat.cluster.tab(chat.edge, "bob")
    busy = await chat.submit(alice, "slow")  # holds the only slot
    await alice.wait_for(lambda _: bool(of_type(alice, "status")))
    queued = await chat.submit(bob, "slow", seconds=0.1)

    status, body = await post(f"{chat.edge.url}/api/tasks/stop/{queued}", token=token("bob"))
    assert (status, body["status"]) == (200, True), body
    status, _ = await post(f"{chat.edge.url}/api/tasks/stop/{busy}", token=token("alice"))
    assert status == 200  # frees the slot: bob's job is taken now, and must not run

    final = await until_done(bob)
    assert of_type(bob, "chat:tasks:cancel") == [{}]
    assert of_type(bob, "status") == []  # the pipe never started
    assert final["content"] == ""
    await eventually(lambda: chat.worker.stats.stopped == 2)
    assert chat.worker.stats.started == 1


async def test_a_stop_by_someone_else_does_not_cancel_a_queued_run(one_slot: Chat) -> None:
    chat = one_slot
    alice = await chat.cluster.tab(chat.edge, "alice")
    bob = await chat.cluster.tab(chat.edge, "bob")
    busy = await chat.submit(alice, "slow")
    await alice.wait_for(lambda _: bool(of_type(alice, "status")))
    queued = await chat.submit(bob, "slow", seconds=0.1)

    await post(f"{chat.edge.url}/api/tasks/stop/{queued}", token=token("mallory"))
    await post(f"{chat.edge.url}/api/tasks/stop/{busy}", token=token("alice"))
    final = await until_done(bob)
    assert final["content"].endswith("finished attempt=1 redelivered=False")
    assert of_type(bob, "chat:tasks:cancel") == []


# -- 21. app.state.config ----------------------------------------------------------------------


async def test_app_config_reads_as_attributes_and_as_a_mapping(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "app_config")
    final = await until_done(tab)
    assert final["content"] == "title generation=True mapping agrees=True task model=''"


# -- 22. a plugin that did not load says why ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "why"),
    [
        ("internals", ["did not load", "open_webui.models.users", "open-webui package"]),
        ("needs_lib", ["did not load", "definitely_not_installed_eventwire_lib",
                       "EVENTWIRE_INSTALL_REQUIREMENTS=true"]),
        ("needs_pkg", ["did not load", "definitely_missing_eventwire_pkg", "pip install",
                       "requirements:"]),
    ],
)  # fmt: skip
async def test_a_run_of_a_plugin_that_did_not_load_says_why(
    chat: Chat, model: str, why: list[str]
) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, model)
    error = (await until_done(tab))["error"]
    assert error["code"] == "plugin_not_loaded"
    for part in why:
        assert part in error["content"]


# -- 23. __model__ is the chat's model; toggle filters ----------------------------------------


def chat_model(model_id: str, name: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "name": name,
        "object": "model",
        "owned_by": "eventwire",
        "pipe": {"type": "pipe"},
    }


async def test_filters_see_the_chats_model(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "declared", report_model=True)
    await until_done(tab)
    assert of_type(tab, "seen:model") == [
        {"by": "model_filter", "model": chat_model("declared", "Declared")}
    ]


async def test_manifold_sub_model_is_the_chats_model() -> None:
    # tests/plugins has no manifold: the examples' one, through the registry directly.
    registry = load_plugins(EXAMPLES)
    listed = {m["id"]: m["name"] for m in await registry.models()}
    assert await registry.model("manifold.upper") == chat_model(
        "manifold.upper", listed["manifold.upper"]
    )
    assert (await registry.model("nope"))["id"] == "nope"


async def test_tools_see_the_chats_model(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    status, _ = await call_tool(chat, tab, "whoami", {}, model="probe")
    assert status == 200
    result = (await until_done(tab))["tool"]["result"]
    assert result["model"] == chat_model("probe", "Probe")


async def test_actions_see_the_chats_model(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    form = {"model": "streamer", "id": "m", "chat_id": "c", "session_id": tab.sid, "messages": []}
    url = f"{chat.edge.url}/api/chat/actions/model_action"
    status, _ = await post(url, form, token=token("alice"))
    assert status == 200
    await tab.wait_for(lambda _: bool(of_type(tab, "action:result")))
    [result] = of_type(tab, "action:result")
    assert result["result"]["model"]["id"] == "streamer"
    assert result["result"]["model"]["name"] == "Streamer"


async def test_toggle_filters_run_only_when_the_request_enables_them(chat: Chat) -> None:
    tab = await chat.cluster.tab(chat.edge, "alice")
    await chat.submit(tab, "echo_inlet")
    assert "toggled was here" not in (await until_done(tab))["content"]

    tab.events.clear()
    await chat.submit(tab, "echo_inlet", filter_ids=["toggled"])
    assert "toggled was here" in (await until_done(tab))["content"]
