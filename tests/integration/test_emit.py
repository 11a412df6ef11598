"""``__event_emitter__`` routing: the same bodies run on memory:// and on the real broker."""

from __future__ import annotations

import pytest

import eventwire
from eventwire import EventValidationError, PayloadTooLarge
from tests.support.cluster import Cluster


def status(text: str) -> dict[str, object]:
    return {"type": "status", "data": {"description": text, "done": False}}


async def test_emit_reaches_every_tab_of_the_user_and_nobody_else(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice1 = await cluster.tab(edge, "alice")
    alice2 = await cluster.tab(edge, "alice")
    bob = await cluster.tab(edge, "bob")

    await ew.emit(status("for alice"), user_id="alice", chat_id="c1", message_id="m1")
    await ew.emit(status("sentinel"), user_id="bob")  # published after: arrives after

    for tab in (alice1, alice2):
        event = await tab.wait_for_content(status("for alice")["data"])
        assert event == {
            "chat_id": "c1",
            "message_id": "m1",
            "data": status("for alice"),
        }
    await bob.wait_for_content(status("sentinel")["data"])
    assert bob.contents() == [status("sentinel")["data"]]


async def test_emit_to_one_session_only(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    tab1 = await cluster.tab(edge, "alice")
    tab2 = await cluster.tab(edge, "alice")

    await ew.emit(status("only tab1"), user_id="alice", session_id=tab1.sid)
    await ew.emit(status("both"), user_id="alice")

    await tab1.wait_for_content(status("both")["data"])
    await tab2.wait_for_content(status("both")["data"])
    assert tab1.contents() == [status("only tab1")["data"], status("both")["data"]]
    assert tab2.contents() == [status("both")["data"]]


async def test_order_of_a_stream_is_kept(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    tab = await cluster.tab(edge, "alice")
    for i in range(50):
        await ew.emit({"type": "chat:message:delta", "data": {"content": str(i)}}, user_id="alice")
    await tab.wait_for(lambda events: len(events) == 50)
    assert [c["content"] for c in tab.contents()] == [str(i) for i in range(50)]


async def test_session_of_another_user_is_refused(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")

    await ew.emit(status("mallory reaching"), user_id="mallory", session_id=alice.sid)
    await ew.emit(status("sentinel"), user_id="alice", session_id=alice.sid)

    await alice.wait_for_content(status("sentinel")["data"])
    assert alice.contents() == [status("sentinel")["data"]]
    assert edge.node.stats.emits_refused == 1


async def test_invalid_event_names_the_field_and_sends_nothing(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")

    bad = {"type": "notification", "data": {"type": "loud", "content": "x"}}
    with pytest.raises(EventValidationError, match=r"data\.type"):
        await ew.emit(bad, user_id="alice")
    with pytest.raises(EventValidationError, match=r"data\.content"):
        await ew.emit({"type": "chat:message:delta", "data": {}}, user_id="alice")
    with pytest.raises(EventValidationError, match="type"):
        await ew.emit({"data": {}}, user_id="alice")

    await ew.emit(status("sentinel"), user_id="alice")
    await alice.wait_for_content(status("sentinel")["data"])
    assert alice.contents() == [status("sentinel")["data"]]
    assert edge.node.stats.bus_messages == 1


async def test_custom_types_pass_through_unchanged(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    custom = {"type": "my:plugin:thing", "data": {"anything": [1, 2, {"x": None}]}}
    await ew.emit(custom, user_id="alice")
    await alice.wait_for_content(custom["data"])


async def test_oversized_payload_is_refused(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client(max_payload_bytes=4096)
    await cluster.tab(edge, "alice")
    big = {"type": "chat:message", "data": {"content": "x" * 5000}}
    with pytest.raises(PayloadTooLarge, match="4096"):
        await ew.emit(big, user_id="alice")
    assert edge.node.stats.bus_messages == 0


async def test_open_webui_shaped_emitter(cluster: Cluster) -> None:
    edge = await cluster.edge()
    ew = await cluster.client()
    alice = await cluster.tab(edge, "alice")
    info = {"user_id": "alice", "chat_id": "c9", "message_id": "m9", "session_id": alice.sid}
    emitter = ew.event_emitter(info)

    assert await emitter({"type": "chat:title", "data": "A title"}) is None
    event = await alice.wait_for_content("A title")
    assert event["chat_id"] == "c9"
    assert event["message_id"] == "m9"


async def test_module_level_helpers_use_the_default_client(cluster: Cluster) -> None:
    edge = await cluster.edge()
    alice = await cluster.tab(edge, "alice")
    await eventwire.connect(cluster.settings)
    try:
        emit = eventwire.get_event_emitter({"user_id": "alice", "chat_id": "c", "message_id": "m"})
        await emit({"type": "chat:tags", "data": ["a", "b"]})
        await alice.wait_for_content(["a", "b"])
    finally:
        await eventwire.close()
