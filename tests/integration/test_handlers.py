"""Open WebUI's socket events on two in-process edges: the same bodies on memory:// and RabbitMQ."""

from __future__ import annotations

import asyncio

import pytest

from eventwire import Eventwire
from tests.support.cluster import Cluster, token
from tests.support.members import member
from tests.support.tabs import eventually


async def test_user_join_answers_with_the_user(cluster: Cluster) -> None:
    edge = await cluster.edge()
    alice = await member(cluster, edge, "alice", name="Alice", channels=["team"])
    answer = await alice.ask("user-join", {"auth": {"token": alice.token_value}})
    assert answer == {"id": "alice", "name": "Alice"}
    assert await alice.say("team", "joined by user-join") is None
    assert alice.errors == []


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        ({"token": token("bob")}, "forbidden"),
        ({"token": "not-a-jwt"}, "invalid_token"),
        ({}, "invalid_event"),
    ],
    ids=["another-user", "garbage", "no-token"],
)
async def test_user_join_checks_the_token_against_the_connection(
    cluster: Cluster, auth: dict[str, str], code: str
) -> None:
    edge = await cluster.edge()
    alice = await member(cluster, edge, "alice")
    assert await alice.ask("user-join", {"auth": auth}) is None
    error = await alice.wait_for_error()
    assert error["code"] == code
    assert edge.node.describe()["client_requests_denied"] == 1


async def test_channel_events_reach_every_member_on_every_node_and_no_one_else(
    cluster: Cluster,
) -> None:
    e1, e2 = await cluster.edge(), await cluster.edge()
    alice = await member(cluster, e1, "alice", channels=["team", "ops"])
    bob = await member(cluster, e2, "bob", channels=["team"])
    bob2 = await member(cluster, e2, "bob", channels=["team"])
    carol = await member(cluster, e2, "carol", channels=["ops"])
    dave = await member(cluster, e1, "dave", channels=["ops"])
    assert await alice.join() == {"channel_ids": ["ops", "team"]}
    for m in (bob, bob2):
        assert await m.join() == {"channel_ids": ["team"]}
    for m in (carol, dave):
        assert await m.join() == {"channel_ids": ["ops"]}

    await alice.say("team", "hello team")
    await alice.say("ops", "hello ops", event="channel-events")  # the older name, kept as sent

    for m in (carol, dave):
        await m.wait_until(lambda m=m: len(m.of("channel-events")) == 1)
    for m in (bob, bob2):
        await m.wait_until(lambda m=m: len(m.of("events:channel")) == 1)
    await alice.wait_until(lambda: len(alice.received) == 2)
    assert alice.heard() == bob.heard() == bob2.heard() == [("team", "alice", "hello team")]
    assert carol.heard() == []  # ops was published after team: it would have come first
    assert carol.heard("channel-events") == dave.heard("channel-events")
    assert carol.heard("channel-events") == [("ops", "alice", "hello ops")]
    assert bob.of("channel-events") == []
    event = bob.of("events:channel")[0]
    assert event == {
        "channel_id": "team",
        "message_id": None,
        "data": {"type": "typing", "data": {"text": "hello team"}},
        "user": {"id": "alice", "name": None, "role": "user"},
    }


async def test_a_non_member_cannot_join_or_send(cluster: Cluster) -> None:
    e1, e2 = await cluster.edge(), await cluster.edge()
    alice = await member(cluster, e1, "alice", channels=["team"])
    mallory = await member(cluster, e2, "mallory", channels=["lobby"])
    root = await member(cluster, e2, "root", role="admin")
    await alice.join()

    assert await mallory.join("team", "lobby") == {"channel_ids": ["lobby"]}
    assert (await mallory.wait_for_error())["code"] == "forbidden"
    assert await mallory.say("team", "let me in") is None
    await mallory.wait_until(lambda: len(mallory.errors) == 2)
    assert mallory.errors[1]["code"] == "forbidden"
    assert "team" in mallory.errors[1]["message"]

    assert await root.join("team") == {"channel_ids": ["team"]}  # admins everywhere
    await root.say("team", "sentinel")
    await alice.wait_until(lambda: len(alice.heard()) == 1)
    assert alice.heard() == [("team", "root", "sentinel")]
    assert e2.node.describe()["client_requests_denied"] == 2


async def test_user_list_agrees_on_every_node_after_joins_and_leaves(cluster: Cluster) -> None:
    e1, e2 = await cluster.edge(), await cluster.edge()
    alice1 = await member(cluster, e1, "alice")
    bob = await member(cluster, e2, "bob")
    alice2 = await member(cluster, e2, "alice")
    ew = await cluster.client()

    await views_agree(cluster, ["alice", "bob"])
    for m in (alice1, bob, alice2):
        assert await m.ask("user-list") == {"user_ids": ["alice", "bob"]}
        await m.wait_until(lambda m=m: m.of("user-list") == [{"user_ids": ["alice", "bob"]}])
    assert await ew.online_users() == ["alice", "bob"]

    await bob.disconnect()
    await alice1.disconnect()
    await views_agree(cluster, ["alice"])
    assert await alice2.ask("user-list") == {"user_ids": ["alice"]}
    await eventually(lambda: sdk_sees(ew, users=["alice"]))
    assert await ew.is_online("alice")
    assert not await ew.is_online("bob")


async def sdk_sees(
    ew: Eventwire, *, users: list[str] | None = None, models: list[str] | None = None
) -> bool:
    if users is not None and await ew.online_users() != users:
        return False
    return models is None or await ew.models_in_use() == models


async def views_agree(cluster: Cluster, users: list[str]) -> None:
    await eventually(lambda: all(e.node.online_users() == users for e in cluster.edges))


async def test_usage_by_model_agrees(cluster: Cluster) -> None:
    e1, e2 = await cluster.edge(), await cluster.edge()
    alice = await member(cluster, e1, "alice")
    bob = await member(cluster, e2, "bob")
    ew = await cluster.client()

    assert await alice.ask("usage", {"model": "llama3", "chat_id": "c1"}) == {"models": ["llama3"]}
    await bob.ask("usage", {"model": "gpt-4o"})
    await eventually(
        lambda: all(e.node.models_in_use() == ["gpt-4o", "llama3"] for e in cluster.edges)
    )
    assert await bob.ask("usage", {"model": "gpt-4o"}) == {"models": ["gpt-4o", "llama3"]}
    assert await ew.models_in_use() == ["gpt-4o", "llama3"]

    await alice.disconnect()
    await eventually(lambda: all(e.node.models_in_use() == ["gpt-4o"] for e in cluster.edges))
    await eventually(lambda: sdk_sees(ew, models=["gpt-4o"]))


async def test_usage_expires_when_reports_stop(cluster: Cluster) -> None:
    fast = {"usage_timeout": 0.3, "presence_interval": 0.2, "presence_ttl": 2.0}
    e1, e2 = await cluster.edge(**fast), await cluster.edge(**fast)
    alice = await member(cluster, e1, "alice")
    await alice.ask("usage", {"model": "llama3"})
    await eventually(lambda: e2.node.models_in_use() == ["llama3"])
    await eventually(lambda: e2.node.models_in_use() == [])
    assert e2.node.online_users() == ["alice"]  # the session stays


async def test_heartbeat(cluster: Cluster) -> None:
    edge = await cluster.edge()
    alice = await member(cluster, edge, "alice")
    assert await alice.ask("heartbeat", {}) is None
    assert edge.node.describe()["heartbeats"] == 1
    assert alice.errors == []


async def test_malformed_payloads_get_an_error_naming_the_field(cluster: Cluster) -> None:
    edge = await cluster.edge()
    alice = await member(cluster, edge, "alice", channels=["team"])
    await alice.ask("events:channel", {"channel_id": "team", "data": {"no": "type"}})
    error = await alice.wait_for_error()
    assert error["code"] == "invalid_event"
    assert "data.type" in error["message"]


async def test_a_flood_is_limited_while_another_connection_still_gets_its_events(
    cluster: Cluster,
) -> None:
    edge = await cluster.edge(client_event_rate=5, client_event_burst=10)
    flooder = await member(cluster, edge, "flooder", channels=["team"])
    listener = await member(cluster, edge, "listener", channels=["team"])
    for m in (flooder, listener):
        await m.join()
    ew = await cluster.client()
    flood = 200

    async def storm() -> None:
        for i in range(flood):
            await flooder.client.emit(
                "events:channel",
                {"channel_id": "team", "data": {"type": "typing", "data": {"text": str(i)}}},
            )

    async def stream() -> None:
        for i in range(20):
            await ew.emit({"type": "status", "data": {"description": str(i)}}, user_id="listener")

    await asyncio.gather(storm(), stream())
    await listener.wait_for(lambda events: len(events) == 20)
    assert [e["data"]["data"]["description"] for e in listener.events] == [
        str(i) for i in range(20)
    ]

    def stats() -> dict[str, int]:
        return edge.node.describe()

    await eventually(
        lambda: stats()["client_events_limited"] + stats()["channel_events_sent"] == flood
    )
    sent = stats()["channel_events_sent"]
    assert 0 < sent < flood
    await listener.wait_until(lambda: len(listener.heard()) == sent)
    assert stats()["client_events_limited"] == flood - sent
    errors = [e["code"] for e in flooder.errors]
    assert errors and set(errors) == {"rate_limited"}
    assert len(errors) <= sent + 1  # one per run of refused events, not one per event
    assert listener.errors == []


async def test_oversized_packets_are_refused_and_counted(cluster: Cluster) -> None:
    edge = await cluster.edge(max_client_packet_bytes=1024)
    alice = await member(cluster, edge, "alice", channels=["team"])
    await alice.join()
    big = {"channel_id": "team", "data": {"type": "typing", "data": {"text": "x" * 2000}}}
    assert await alice.ask("events:channel", big) is None
    assert (await alice.wait_for_error())["code"] == "payload_too_large"
    stats = edge.node.describe()
    assert stats["client_packets_too_large"] == 1
    assert stats["channel_events_sent"] == 0
