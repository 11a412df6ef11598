"""What an external tool may push with a run's chat-scoped token, on both buses.

Display events only (the allow-list), at a rate per token, under the socket packet limit;
the user's own token keeps Open WebUI's behaviour. Every refusal is counted in ``/stats``.
"""

from __future__ import annotations

from typing import Any

import pytest

from eventwire.auth import mint_event_token
from eventwire_edge import EdgeServer
from tests.support.cluster import SECRET, Cluster, token
from tests.support.http import get, post
from tests.support.tabs import Tab

STATUS = {"type": "status", "data": {"description": "searching", "done": False}}
EXECUTE = {"type": "execute", "data": {"code": "document.title = 'owned'"}}


def event_url(edge: EdgeServer, chat: str = "chat-1", message: str = "msg-1") -> str:
    return f"{edge.url}/api/v1/chats/{chat}/messages/{message}/event"


def scoped(chat: str = "chat-1", message: str = "msg-1") -> str:
    return mint_event_token("alice", chat, message, SECRET, expires_in=60)


def status(text: str) -> dict[str, Any]:
    return {"type": "status", "data": {"description": text, "done": True}}


async def stats(edge: EdgeServer) -> dict[str, Any]:
    code, body, _ = await get(f"{edge.url}/stats")
    assert code == 200
    return dict(body)


async def only_these_arrived(tab: Tab, edge: EdgeServer, *types: str) -> None:
    """A sentinel pushed last, the same way: anything pushed before it would be there first."""
    code, _ = await post(event_url(edge), status("sentinel"), token=scoped())
    assert code == 200
    await tab.wait_for_content(status("sentinel")["data"])
    assert tab.types() == [*types, "status"]


@pytest.mark.parametrize(
    "event",
    [EXECUTE, {"type": "my-plugin:widget", "data": {"html": "<script>1</script>"}}],
    ids=["execute", "unknown"],
)
async def test_a_scoped_token_may_not_push_code_or_unknown_types(
    cluster: Cluster, event: dict[str, Any]
) -> None:
    edge = await cluster.edge()
    alice = await cluster.tab(edge, "alice")
    code, body = await post(event_url(edge), event, token=scoped())
    assert code == 403
    assert repr(event["type"]) in body["detail"]
    assert "EVENTWIRE_EXTERNAL_EVENT_TYPES" in body["detail"]
    counters = await stats(edge)
    assert counters["scoped_events_forbidden"] == 1
    assert counters["scoped_events_pushed"] == 0
    await only_these_arrived(alice, edge)


async def test_a_scoped_token_pushes_a_status_to_the_users_tab(cluster: Cluster) -> None:
    edge = await cluster.edge()
    alice = await cluster.tab(edge, "alice")
    code, body = await post(event_url(edge), STATUS, token=scoped())
    assert (code, body) == (200, {"status": True})
    event = await alice.wait_for_content(STATUS["data"])
    assert (event["chat_id"], event["message_id"]) == ("chat-1", "msg-1")
    assert event["data"] == STATUS
    assert (await stats(edge))["scoped_events_pushed"] == 1


async def test_the_users_own_token_may_push_execute(cluster: Cluster) -> None:
    edge = await cluster.edge()
    alice = await cluster.tab(edge, "alice")
    code, _ = await post(event_url(edge), EXECUTE, token=token("alice"))
    assert code == 200
    event = await alice.wait_for_content(EXECUTE["data"])
    assert event["data"]["type"] == "execute"
    counters = await stats(edge)
    assert counters["scoped_events_forbidden"] == counters["scoped_events_pushed"] == 0


async def test_the_deployers_allow_list_wins(cluster: Cluster) -> None:
    edge = await cluster.edge(external_event_types="notification,execute")
    alice = await cluster.tab(edge, "alice")
    code, _ = await post(event_url(edge), EXECUTE, token=scoped())
    assert code == 200  # allowed on purpose (and warned about at start-up)
    await alice.wait_for_content(EXECUTE["data"])
    code, body = await post(event_url(edge), STATUS, token=scoped())
    assert code == 403
    assert "'status'" in body["detail"]


async def test_a_scoped_tokens_pushes_over_its_rate_are_429_and_counted(cluster: Cluster) -> None:
    # A rate this slow refills nothing while the test runs: the refusals do not hang on time.
    edge = await cluster.edge(client_event_rate=0.001, client_event_burst=3)
    alice = await cluster.tab(edge, "alice")
    tool = scoped()
    codes = [(await post(event_url(edge), status(f"step {i}"), token=tool))[0] for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    code, body = await post(event_url(edge), STATUS, token=tool)
    assert code == 429
    assert "events/s" in body["detail"]
    # Another message's token has its own budget; the user's own token has none.
    other = scoped(message="msg-2")
    assert (await post(event_url(edge, message="msg-2"), STATUS, token=other))[0] == 200
    assert (await post(event_url(edge), STATUS, token=token("alice")))[0] == 200
    counters = await stats(edge)
    assert counters["scoped_events_limited"] == 3
    assert counters["scoped_events_pushed"] == 4
    assert counters["scoped_event_buckets"] == 2
    await alice.wait_for(lambda events: len(events) == 5)
    assert [e["data"]["data"]["description"] for e in alice.events[:3]] == [
        "step 0",
        "step 1",
        "step 2",
    ]


async def test_a_scoped_tokens_events_over_the_packet_limit_are_413_and_counted(
    cluster: Cluster,
) -> None:
    edge = await cluster.edge(max_client_packet_bytes=1024)
    alice = await cluster.tab(edge, "alice")
    big = status("x" * 2000)
    code, body = await post(event_url(edge), big, token=scoped())
    assert code == 413
    assert "1024-byte limit" in body["detail"]
    # The user's own token keeps Open WebUI's limit (EVENTWIRE_MAX_PAYLOAD_BYTES).
    assert (await post(event_url(edge), big, token=token("alice")))[0] == 200
    await alice.wait_for_content(big["data"])
    counters = await stats(edge)
    assert counters["scoped_events_too_large"] == 1
    assert counters["scoped_events_pushed"] == 0
    await only_these_arrived(alice, edge, "status")
