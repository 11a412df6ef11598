from __future__ import annotations

import pytest

from eventwire.topology import Topology, session_key, session_of, user_key


def test_names_derive_from_the_namespace() -> None:
    topo = Topology("ns")
    assert topo.events.name == "ns.events"
    assert topo.events.type == "direct"
    node = topo.node_queue("n1", expires_s=15)
    assert node.name == "ns.node.n1"
    assert node.durable
    assert node.arguments == {"x-expires": 15000}
    reply = topo.reply_queue("p1")
    assert (reply.name, reply.exclusive, reply.auto_delete) == ("ns.reply.p1", True, True)


def test_routing_keys() -> None:
    assert user_key("u.1") == "user.u.1"
    assert session_key("abc") == "session.abc"
    assert session_of("session.abc") == "abc"
    assert session_of("user.abc") is None


@pytest.mark.parametrize("ident", ["", "x" * 300])
def test_keys_must_fit_amqp(ident: str) -> None:
    with pytest.raises(ValueError, match="routing key"):
        user_key(ident)


def test_channel_keys_and_the_presence_queue() -> None:
    from eventwire.topology import channel_key, channel_of

    assert channel_key("c1") == "channel.c1"
    assert channel_of("channel.c1") == "c1"
    assert channel_of("user.c1") is None
    queue = Topology("ns").presence_queue("p1")
    assert (queue.name, queue.exclusive, queue.auto_delete) == ("ns.presence.p1", True, True)


def test_on_a_cluster_node_queues_are_quorum_and_acked() -> None:
    from eventwire.topology import QUORUM_REPLICAS, QueueType

    classic = Topology("ns").node_queue("n1", expires_s=15)
    assert not classic.acked and "x-queue-type" not in classic.arguments
    quorum = Topology("ns", node_queue_type=QueueType.QUORUM).node_queue("n1", expires_s=15)
    assert quorum.durable and quorum.acked and not quorum.exclusive
    assert quorum.arguments == {
        "x-expires": 15000,
        "x-queue-type": "quorum",
        "x-quorum-initial-group-size": QUORUM_REPLICAS,
    }


def test_jobs_and_dead_jobs_are_replicated_three_times() -> None:
    topo = Topology("ns")
    for spec in (topo.jobs, topo.dead_jobs):
        assert spec.durable
        assert spec.arguments["x-queue-type"] == "quorum"
        assert spec.arguments["x-quorum-initial-group-size"] == 3
