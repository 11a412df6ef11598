"""``__event_call__``: answers, fail-fast, timeouts, disconnects, cancellation, late replies."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventwire import (
    CallTimeout,
    ClientDisconnected,
    ClientError,
    EventValidationError,
    PermissionDenied,
    SessionOffline,
)
from eventwire.protocol import CallReply
from tests.support.cluster import Cluster
from tests.support.tabs import eventually

CONFIRM = {"type": "confirmation", "data": {"title": "Sure?", "message": "Really?"}}
NEVER = 3600.0  # a call timeout that no passing test reaches


async def never_answer(_data: dict[str, Any]) -> Any:
    await asyncio.Event().wait()


async def test_call_returns_the_clients_answer(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")

    async def answer(data: dict[str, Any]) -> Any:
        return {"confirmed": data["data"]["data"]["title"], "chat": data["chat_id"]}

    alice.answer = answer
    value = await ew.call(CONFIRM, user_id="alice", session_id=alice.sid, chat_id="c1")
    assert value == {"confirmed": "Sure?", "chat": "c1"}


async def test_call_goes_to_the_named_session_only(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    tab1 = await cluster.tab(edge, "alice")
    tab2 = await cluster.tab(edge, "alice")

    async def yes(_data: dict[str, Any]) -> Any:
        return True

    tab1.answer = tab2.answer = yes
    assert await ew.call(CONFIRM, user_id="alice", session_id=tab2.sid) is True
    assert tab1.events == []
    assert len(tab2.events) == 1


async def test_unknown_session_fails_at_once(cluster: Cluster) -> None:
    await cluster.edge()
    ew = await cluster.client()
    async with asyncio.timeout(30):  # the call's own timeout is an hour: this is not it
        with pytest.raises(SessionOffline):
            await ew.call(CONFIRM, user_id="alice", session_id="no-such-sid", timeout=NEVER)


async def test_disconnected_session_fails_at_once(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    sid = alice.sid
    await alice.disconnect()
    await eventually(lambda: edge.node.describe()["sessions"] == 0)
    async with asyncio.timeout(30):
        with pytest.raises(SessionOffline):
            await ew.call(CONFIRM, user_id="alice", session_id=sid, timeout=NEVER)


async def test_timeout(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    alice.answer = never_answer
    with pytest.raises(CallTimeout):
        await ew.call(CONFIRM, user_id="alice", session_id=alice.sid, timeout=0.3)
    assert ew.pending_calls == 0
    await eventually(lambda: edge.node.describe()["pending_calls"] == 0)


async def test_client_disconnecting_mid_call_fails_the_call_at_once(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    alice.answer = never_answer
    call = asyncio.create_task(
        ew.call(CONFIRM, user_id="alice", session_id=alice.sid, timeout=NEVER)
    )
    async with asyncio.timeout(20):
        await alice.calls.get()  # the client holds the question
    await alice.disconnect()
    async with asyncio.timeout(30):
        with pytest.raises(ClientDisconnected):
            await call
    assert edge.node.stats.calls_failed == 1


async def test_caller_cancellation_reaches_the_edge(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    alice.answer = never_answer
    with pytest.raises(TimeoutError):
        # what plugins do: wrap __event_call__ in asyncio.wait_for
        await asyncio.wait_for(
            ew.call(CONFIRM, user_id="alice", session_id=alice.sid, timeout=NEVER), 0.3
        )
    assert ew.pending_calls == 0
    await eventually(lambda: edge.node.describe()["pending_calls"] == 0)
    assert edge.node.stats.calls_answered == 0


async def test_reply_after_the_caller_gave_up_is_dropped(cluster: Cluster) -> None:
    await cluster.edge()
    ew = await cluster.client()
    stray = CallReply(id="gone-long-ago", ok=True, value="late")
    await ew.bus.send(ew.bus.topology.reply_queue(ew.process_id).name, stray)
    await eventually(lambda: ew.late_replies == 1)
    assert ew.pending_calls == 0


async def test_client_error_answer(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")

    async def fail(_data: dict[str, Any]) -> Any:
        return {"error": "ReferenceError: x is not defined"}

    alice.answer = fail
    execute = {"type": "execute", "data": {"code": "return x"}}
    with pytest.raises(ClientError, match="ReferenceError"):
        await ew.call(execute, user_id="alice", session_id=alice.sid)


async def test_user_cannot_call_another_users_session(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    alice.answer = never_answer
    with pytest.raises(PermissionDenied):
        await ew.call(CONFIRM, user_id="mallory", session_id=alice.sid, timeout=NEVER)
    assert alice.events == []


async def test_invalid_call_event_is_refused_before_sending(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    with pytest.raises(EventValidationError, match=r"data\.code"):
        await ew.call({"type": "execute", "data": {}}, user_id="alice", session_id=alice.sid)
    assert edge.node.stats.bus_messages == 0


async def test_open_webui_shaped_caller_returns_errors_as_values(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")

    async def typed(_data: dict[str, Any]) -> Any:
        return "typed text"

    alice.answer = typed
    info = {"user_id": "alice", "session_id": alice.sid, "chat_id": "c", "message_id": "m"}
    assert await ew.event_call(info)({"type": "input", "data": {"title": "Name?"}}) == "typed text"

    offline = ew.event_call({**info, "session_id": "gone"})
    answer = await offline(CONFIRM)
    assert answer["code"] == "session_offline"
    assert "gone" in answer["error"]
