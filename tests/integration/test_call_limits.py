"""Call timeouts are bounded before they reach RabbitMQ: a huge one never costs the connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventwire.errors import InvalidArgument
from eventwire.topology import MAX_CALL_TIMEOUT
from tests.support.cluster import Cluster

CONFIRM = {"type": "confirmation", "data": {"title": "Sure?"}}


async def test_a_huge_call_timeout_is_refused_and_the_connection_survives(
    amqp_cluster: Cluster,
) -> None:
    edge = await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    alice = await amqp_cluster.tab(edge, "alice")

    async def yes(_data: dict[str, Any]) -> Any:
        return "yes"

    alice.answer = yes
    slow = asyncio.create_task(ew.call(CONFIRM, user_id="alice", session_id=alice.sid, timeout=60))
    with pytest.raises(InvalidArgument, match="timeout"):
        await ew.call(CONFIRM, user_id="alice", session_id=alice.sid, timeout=1e9)
    assert await slow == "yes"  # an unrelated call in flight is unharmed
    assert ew.bus.connected
    assert getattr(ew.bus, "reconnects", 0) == 0
    longest = await ew.call(
        CONFIRM, user_id="alice", session_id=alice.sid, timeout=MAX_CALL_TIMEOUT
    )
    assert longest == "yes"
    assert getattr(ew.bus, "reconnects", 0) == 0
