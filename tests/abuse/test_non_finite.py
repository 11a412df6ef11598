"""NaN and Infinity never leave the system as JSON (issue 10, item 2), on both buses.

Python's json writes them as bare ``NaN`` / ``Infinity``, which is not JSON: socket.io-client
fails to parse the packet, disconnects and reconnects with a new session, losing the event and
breaking a pending call. The SDK refuses them (``EventValidationError``), the HTTP API answers
422 ``invalid_event``, a socket packet carrying them is refused, and the edge never writes one
to a browser, whoever published it.
"""

from __future__ import annotations

import math

import pytest

from eventwire import errors
from eventwire.backends import open_bus
from eventwire.protocol import Emit
from eventwire.topology import user_key
from tests.abuse.conftest import OpenRaw
from tests.support.cluster import Cluster, token
from tests.support.http import post
from tests.support.members import member

NOT_JSON = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("bad", NOT_JSON, ids=["nan", "inf", "-inf"])
async def test_the_sdk_refuses_non_finite_numbers_in_emits_and_calls(
    cluster: Cluster, bad: float
) -> None:
    edge = await cluster.edge()
    tab = await cluster.tab(edge, "alice")
    ew = await cluster.client()
    refused = [
        {"type": "status", "data": {"description": "x", "progress": bad}},
        {"type": "my:own:type", "data": {"deep": [1, {"x": [bad]}]}},  # unknown types too
        {"type": "chat:completion", "data": {"usage": {"tokens": bad}}},
    ]
    for event in refused:
        with pytest.raises(errors.EventValidationError, match="NaN or Infinity") as caught:
            await ew.emit(event, user_id="alice")
        assert caught.value.code == "invalid_event"
    with pytest.raises(errors.EventValidationError, match="NaN or Infinity"):
        await ew.call(
            {"type": "input", "data": {"title": "t", "value": bad}},
            user_id="alice",
            session_id=tab.sid,
            timeout=5,
        )
    await ew.emit({"type": "status", "data": {"description": "fine"}}, user_id="alice")
    await tab.wait_for(lambda events: len(events) == 1)
    assert tab.contents() == [{"description": "fine"}]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_the_http_api_refuses_non_finite_literals_with_invalid_event(
    cluster: Cluster, literal: str
) -> None:
    edge = await cluster.edge()
    url = f"{edge.url}/api/v1/chats/c1/messages/m1/event"
    body = '{"type": "status", "data": {"description": "x", "progress": LITERAL}}'
    body = body.replace("LITERAL", literal)
    status, answer = await post(url, raw=body.encode(), token=token("alice"))
    assert status == 422
    assert answer["code"] == "invalid_event"
    assert literal in str(answer["detail"])

    completion = '{"model": "m", "messages": [{"role": "user", "content": LITERAL}]}'
    completion = completion.replace("LITERAL", literal)
    status, answer = await post(
        f"{edge.url}/api/chat/completions", raw=completion.encode(), token=token("alice")
    )
    assert status == 422 and answer["code"] == "invalid_event"


async def test_a_socket_packet_carrying_nan_is_refused_and_never_relayed(
    cluster: Cluster, raw: OpenRaw
) -> None:
    edge = await cluster.edge()
    bob = await member(cluster, edge, "bob", channels=["team"])
    await bob.join()
    alice = await raw(edge, "alice")
    grant = {"auth": {"token": token("alice", channels=["team"])}}
    assert await alice.ask("join-channels", grant) == {"channel_ids": ["team"]}

    await alice.send('42["events:channel",{"channel_id":"team","data":{"type":"t","v":NaN}}]')
    await alice.wait_for_error("invalid_event")
    sentinel = {"channel_id": "team", "data": {"type": "typing", "data": {"text": "after"}}}
    await alice.ask("events:channel", sentinel, ack=2)
    await bob.wait_until(lambda: len(bob.of("events:channel")) == 1)
    assert bob.heard() == [("team", "alice", "after")]


async def test_the_edge_never_writes_nan_to_a_browser_whoever_published_it(
    cluster: Cluster,
) -> None:
    edge = await cluster.edge()
    tab = await cluster.tab(edge, "alice")
    bus = open_bus(cluster.settings)  # a publisher that skips the SDK's validation
    await bus.start()
    try:
        bad = {"chat_id": None, "message_id": None, "data": {"type": "x", "data": math.nan}}
        await bus.publish(user_key("alice"), Emit(user_id="alice", payload=bad))
        good = {"chat_id": None, "message_id": None, "data": {"type": "x", "data": 1}}
        await bus.publish(user_key("alice"), Emit(user_id="alice", payload=good))
        await tab.wait_for(lambda events: len(events) >= 1)
    finally:
        await bus.close()
    assert tab.contents() == [1]
    assert edge.node.describe()["emits_not_json"] == 1
