"""The Function with Open WebUI on ``EventwireManager``: its workers reach the tab directly
(on memory:// and RabbitMQ). A real python-socketio server on ``EventwireManager`` stands for
Open WebUI's, a real Socket.IO client for the user's tab, an in-process worker runs the pipe;
what the Function reads of Open WebUI (its manager's settings, its session pool) is handed
in. Real Open WebUI replicas in a browser: tests/e2e/test_openwebui_replicas.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eventwire_edge.sio import EventwireManager
from eventwire_worker import Worker
from tests.support.cluster import Cluster
from tests.support.owui_function import function_on, worker_on
from tests.support.sio import Server, Tab

PLUGINS = Path(__file__).parents[1] / "e2e" / "owui_replica_plugins"
USER = {"id": "alice", "name": "Alice", "role": "user", "valves": {}}


class Run:
    """One run of the ``split`` pipe through the Function: what Open WebUI's own emitter and
    caller were handed (the relay's side), and the text the Function yielded."""

    def __init__(self) -> None:
        self.relayed: list[dict[str, Any]] = []
        self.asked: list[dict[str, Any]] = []
        self.text = ""

    async def emit(self, event: dict[str, Any]) -> None:
        self.relayed.append(event)

    async def ask(self, event: dict[str, Any]) -> Any:
        self.asked.append(event)
        return "answered through the relay"

    def relayed_types(self) -> list[str]:
        return [e["type"] for e in self.relayed]


@pytest.fixture
async def owui(cluster: Cluster) -> AsyncIterator[Server]:
    """Open WebUI's Socket.IO server: on EventwireManager, the workers' broker and namespace."""
    manager = EventwireManager(settings=cluster.settings)
    server = await Server(manager, "owui").start()
    try:
        yield server
    finally:
        await server.stop()
        await manager.close()


@pytest.fixture
async def tab(owui: Server) -> AsyncIterator[Tab]:
    """The user's tab: records Open WebUI's ``events`` and confirms every confirmation."""
    tab = Tab(owui, "tab")

    async def events(envelope: dict[str, Any]) -> Any:
        tab.received.put_nowait(("events", (envelope,)))
        return True if envelope["data"]["type"] == "confirmation" else None

    tab.client.on("events", events)
    await tab.connect()
    await owui.sio.enter_room(tab.sid, "user:alice")  # what Open WebUI does at user-join
    try:
        yield tab
    finally:
        await tab.disconnect()


@pytest.fixture
async def worker(cluster: Cluster) -> AsyncIterator[Worker]:
    async with worker_on(cluster.settings, PLUGINS) as worker:
        yield worker


@pytest.fixture
async def function(cluster: Cluster) -> AsyncIterator[Any]:
    async with function_on(cluster.settings) as pipe:
        yield pipe


def on_the_manager(function: Any, owui: Server, sessions: dict[str, Any]) -> None:
    """What the Function reads in Open WebUI (``open_webui.socket.main``) on the manager."""
    function._open_webui_socket = lambda: (owui.manager.settings, sessions, None)


async def run_split(function: Any, session_id: str) -> Run:
    run = Run()
    metadata = {"chat_id": "c1", "message_id": "m1", "session_id": session_id}
    chunks = function.pipe(
        {"model": "eventwire_workers.split", "messages": []},
        __user__=USER,
        __metadata__=metadata,
        __event_emitter__=run.emit,
        __event_call__=run.ask,
    )
    run.text = "".join([chunk async for chunk in chunks])
    return run


async def test_notification_and_confirmation_go_straight_to_the_tab_status_and_answer_relay(
    function: Any, owui: Server, tab: Tab, worker: Worker
) -> None:
    on_the_manager(function, owui, {tab.sid: {"id": "alice"}})

    run = await run_split(function, tab.sid)

    assert run.text == "The worker got the answer True. "  # the tab's answer, the plugin's text
    assert run.relayed_types() == ["status", "status"]  # Open WebUI saves these
    assert run.asked == []  # Open WebUI's caller was never used
    _, (notification,) = await tab.next()
    assert notification["data"]["type"] == "notification"
    assert (notification["chat_id"], notification["message_id"]) == ("c1", "m1")
    _, (asked,) = await tab.next()
    assert asked["data"]["type"] == "confirmation"
    interaction = asked["data"]["data"]["interaction_id"]  # as Open WebUI's caller adds it
    _, (done,) = await tab.next()
    closed = {"type": "request:interaction:done", "data": {"interaction_id": interaction}}
    assert done["data"] == closed
    stats = worker.runner.tabs.stats
    assert (dict(stats.events), dict(stats.calls)) == ({"notification": 1}, {"ok": 1})


async def test_a_call_to_a_tab_that_is_gone_fails_at_once_as_open_webuis_caller_answers(
    function: Any, owui: Server, tab: Tab, worker: Worker
) -> None:
    # The session pool still names it (Open WebUI drops it a moment later); no server has it.
    on_the_manager(function, owui, {"gone-sid": {"id": "alice"}})

    run = await run_split(function, "gone-sid")  # the worker's call timeout is 300 s

    expected = {"error": "Client session disconnected.", "code": "session_offline"}
    assert run.text == f"The worker got the answer {expected}. "
    assert run.asked == []
    assert dict(worker.runner.tabs.stats.calls) == {"session_offline": 1}


async def test_a_session_that_is_not_the_users_is_asked_through_open_webuis_caller(
    function: Any, owui: Server, tab: Tab, worker: Worker
) -> None:
    on_the_manager(function, owui, {tab.sid: {"id": "mallory"}})

    run = await run_split(function, tab.sid)

    assert run.text == "The worker got the answer answered through the relay. "
    assert [e["type"] for e in run.asked] == ["confirmation"]
    assert dict(worker.runner.tabs.stats.calls) == {}
    assert dict(worker.runner.tabs.stats.events) == {"notification": 1}  # still the user's room


async def test_on_another_manager_everything_goes_through_the_function_as_before(
    function: Any, owui: Server, tab: Tab, worker: Worker
) -> None:
    function._open_webui_socket = lambda: (None, {tab.sid: {"id": "alice"}}, None)

    run = await run_split(function, tab.sid)

    assert run.text == "The worker got the answer answered through the relay. "
    assert run.relayed_types() == ["status", "notification", "status"]
    assert [e["type"] for e in run.asked] == ["confirmation"]
    stats = worker.runner.tabs.stats
    assert (dict(stats.events), dict(stats.calls)) == ({}, {})
