"""The edge's HTTP API: authentication, validation, and the external event endpoint."""

from __future__ import annotations

import pytest

from eventwire import mint_token
from eventwire.auth import mint_event_token
from tests.support.cluster import SECRET, Cluster, token
from tests.support.http import post

NOTE = {"type": "notification", "data": {"type": "info", "content": "from a tool"}}


def event_url(base: str, chat: str = "chat-1", message: str = "msg-1") -> str:
    return f"{base}/api/v1/chats/{chat}/messages/{message}/event"


@pytest.mark.parametrize(
    ("credential", "status"),
    [
        ("owner", 200),
        ("scoped", 200),
        ("scoped-other-chat", 403),
        ("scoped-other-message", 403),
        ("scoped-expired", 401),
        ("forged", 401),
        ("missing", 401),
    ],
)
async def test_external_event_auth_matrix(cluster: Cluster, credential: str, status: int) -> None:
    edge = await cluster.edge()
    alice = await cluster.tab(edge, "alice")
    bob = await cluster.tab(edge, "bob")
    tokens = {
        "owner": token("alice"),
        "scoped": mint_event_token("alice", "chat-1", "msg-1", SECRET, expires_in=60),
        "scoped-other-chat": mint_event_token("alice", "chat-2", "msg-1", SECRET, expires_in=60),
        "scoped-other-message": mint_event_token("alice", "chat-1", "m9", SECRET, expires_in=60),
        "scoped-expired": mint_event_token("alice", "chat-1", "msg-1", SECRET, expires_in=-5),
        "forged": mint_token("alice", "another-secret-that-is-long-enough-for-hs256!!"),
        "missing": None,
    }
    code, body = await post(event_url(edge.url), NOTE, token=tokens[credential])
    assert code == status, body
    if status != 200:
        assert isinstance(body["detail"], str)
        return
    await alice.wait_for_content(NOTE["data"])
    event = alice.events[0]
    assert (event["chat_id"], event["message_id"]) == ("chat-1", "msg-1")
    # bob's sentinel goes out after: had the event reached bob, it would be there first
    ew = await cluster.client()
    await ew.emit({"type": "chat:title", "data": "sentinel"}, user_id="bob")
    await bob.wait_for_content("sentinel")
    assert len(bob.events) == 1


async def test_a_users_token_reaches_only_that_users_sessions(cluster: Cluster) -> None:
    edge = await cluster.edge()
    alice = await cluster.tab(edge, "alice")
    mallory = await cluster.tab(edge, "mallory")
    code, _ = await post(event_url(edge.url), NOTE, token=token("mallory"))
    assert code == 200
    await mallory.wait_for_content(NOTE["data"])
    ew = await cluster.client()
    await ew.emit({"type": "chat:title", "data": "sentinel"}, user_id="alice")
    await alice.wait_for_content("sentinel")
    assert len(alice.events) == 1


async def test_scoped_tokens_cannot_open_sockets_or_submit(cluster: Cluster) -> None:
    from tests.support.tabs import Refused, Tab

    edge = await cluster.edge()
    scoped = mint_event_token("alice", "chat-1", "msg-1", SECRET, expires_in=60)
    with pytest.raises(Refused, match="scoped"):
        await Tab(edge.url, scoped).connect()
    code, body = await post(f"{edge.url}/api/chat/completions", {"model": "x"}, token=scoped)
    assert code == 401
    assert "scoped" in body["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {}}, "type"),
        ({"type": "notification", "data": {"type": "loud", "content": "x"}}, "data.type"),
        ({"type": "status", "data": {"done": "maybe"}}, "data.done"),
        ({"type": "status", "data": {}, "extra": 1}, "extra"),
    ],
)
async def test_malformed_event_bodies_are_422_naming_the_field(
    cluster: Cluster, body: dict[str, object], field: str
) -> None:
    edge = await cluster.edge()
    code, answer = await post(event_url(edge.url), body, token=token("alice"))
    assert code == 422
    assert field in str(answer["detail"])
    assert edge.node.stats.bus_messages == 0


async def test_invalid_json_and_oversized_bodies(cluster: Cluster) -> None:
    edge = await cluster.edge()
    code, answer = await post(event_url(edge.url), raw=b"{nope", token=token("alice"))
    assert code == 422
    assert "invalid JSON" in str(answer["detail"])
    huge = b'{"type": "x", "data": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    code, _ = await post(event_url(edge.url), raw=huge, token=token("alice"))
    assert code == 413


async def test_submission_validation(cluster: Cluster) -> None:
    edge = await cluster.edge()
    code, answer = await post(
        f"{edge.url}/api/chat/completions", {"messages": []}, token=token("alice")
    )
    assert code == 422
    assert answer["detail"][0]["loc"] == ["body", "model"]
    code, _ = await post(f"{edge.url}/api/chat/completions", {"model": "x"})
    assert code == 401


async def test_stopping_an_unknown_task_is_404(cluster: Cluster) -> None:
    edge = await cluster.edge()
    code, answer = await post(f"{edge.url}/api/tasks/stop/nope", token=token("alice"))
    assert code == 404
    assert "nope" in answer["detail"]
