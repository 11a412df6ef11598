"""Presence across in-process edges and SDK clients, on memory:// and on RabbitMQ."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventwire import SessionOffline
from eventwire.protocol import Message, PresenceChange, PresentSession
from eventwire.topology import PRESENCE_KEY, QueueSpec, session_key
from tests.support.cluster import Cluster
from tests.support.members import member
from tests.support.tabs import eventually

CONFIRM = {"type": "confirmation", "data": {"title": "Still there?"}}
NEVER = 3600.0  # a call timeout no passing test reaches


async def test_a_node_that_starts_later_learns_everything(cluster: Cluster) -> None:
    e1 = await cluster.edge()
    await member(cluster, e1, "alice")
    await member(cluster, e1, "bob")
    ew = await cluster.client()
    assert await ew.online_users() == ["alice", "bob"]  # a fresh replica waits for snapshots
    e2 = await cluster.edge()
    await eventually(lambda: e2.node.online_users() == ["alice", "bob"])
    assert e2.node.describe()["presence_snapshots"] >= 1


async def test_a_cleanly_stopped_node_leaves_every_view_at_once(cluster: Cluster) -> None:
    e1, e2 = await cluster.edge(), await cluster.edge()
    await member(cluster, e2, "alice")
    ew = await cluster.client()
    await eventually(lambda: e1.node.online_users() == ["alice"])
    assert await ew.is_online("alice")
    await e2.stop()  # a clean stop says goodbye
    await eventually(lambda: e1.node.online_users() == [])
    assert e1.node.describe()["presence_expired_nodes"] == 0  # said goodbye: no expiry needed
    assert not await ew.is_online("alice")


async def test_presence_can_be_off_for_a_client(cluster: Cluster) -> None:
    ew = await cluster.client(client_presence=False)
    assert ew.presence is None
    with pytest.raises(Exception, match="presence is off"):
        await ew.online_users()


FAST = {"presence_interval": 0.2, "presence_ttl": 1.0}


async def test_calls_to_a_session_of_a_silent_node_fail_as_offline(cluster: Cluster) -> None:
    """A node that dies keeps its queue and bindings until x-expires; presence fails calls
    aimed at its sessions once it has been silent for the TTL, in flight and new ones."""
    ew = await cluster.client(**FAST)
    swallowed: list[Message] = []

    async def dead_node(_key: str, message: Message) -> None:
        swallowed.append(message)  # a queue nobody answers from, like a dead node's

    ns = cluster.settings.namespace
    ghost = await ew.bus.open_inbox(QueueSpec(f"{ns}.ghost", exclusive=True), dead_node)
    await ghost.bind(session_key("ghost-sid"))
    session = PresentSession(session_id="ghost-sid", user_id="alice")
    await ew.bus.publish(
        PRESENCE_KEY, PresenceChange(node_id="ghost", incarnation="x", seq=1, session=session)
    )
    await eventually(lambda: ew.is_online("alice"))

    call = asyncio.create_task(
        ew.call(CONFIRM, user_id="alice", session_id="ghost-sid", timeout=NEVER)
    )
    async with asyncio.timeout(30):
        with pytest.raises(SessionOffline, match="stopped answering"):
            await call
    assert not await ew.is_online("alice")

    with pytest.raises(SessionOffline):
        await ew.call(CONFIRM, user_id="alice", session_id="ghost-sid", timeout=NEVER)
    await eventually(lambda: len(swallowed) == 2)  # the first call and its cancellation
    assert [m.kind for m in swallowed] == ["call", "cancel"]  # the second never left


async def test_a_call_whose_node_lives_is_not_disturbed(cluster: Cluster) -> None:
    edge = await cluster.edge(**FAST)
    ew = await cluster.client(**FAST)
    alice = await member(cluster, edge, "alice")
    answered = asyncio.Event()

    async def slow(_data: dict[str, Any]) -> Any:
        await answered.wait()
        return "yes"

    alice.answer = slow
    call = asyncio.create_task(ew.call(CONFIRM, user_id="alice", session_id=alice.sid))
    await alice.calls.get()
    # More than a TTL passes while the client thinks; heartbeats keep the node alive.
    await eventually(lambda: edge.node.describe()["presence_announced"] >= 8)
    answered.set()
    assert await call == "yes"
