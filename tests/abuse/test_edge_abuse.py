"""Hostile and unlucky clients at the socket door, on in-process edges (memory:// and RabbitMQ).

Each test reproduces one item of issue 10 and failed before its fix. Memory bounds are asserted
as counted bytes and queue lengths the edge reports, never as timings.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

import aiohttp
import pytest

from eventwire import errors
from eventwire_edge import EdgeServer
from eventwire_edge.server import SOCKETIO_PATH
from tests.abuse.conftest import OpenRaw
from tests.support.cluster import Cluster, token
from tests.support.members import member
from tests.support.tabs import Refused, Tab, eventually


def stats(edge: EdgeServer) -> defaultdict[str, int]:
    """The node's ``/stats``; a counter it does not keep reads 0."""
    return defaultdict(int, edge.node.describe())


# -- item 5: a fresh token that drops a channel ends the membership ---------------------------


@pytest.mark.parametrize("event", ["join-channels", "user-join"])
async def test_a_fresh_token_without_a_channel_ends_the_membership(
    cluster: Cluster, event: str
) -> None:
    edge = await cluster.edge()
    alice = await member(cluster, edge, "alice", channels=["team", "ops"])
    bob = await member(cluster, edge, "bob", channels=["ops"])
    assert await alice.join() == {"channel_ids": ["ops", "team"]}
    await bob.join()

    fresh = token("alice", channels=["team"])  # the grant for "ops" was withdrawn
    answer = await alice.ask(event, {"auth": {"token": fresh}})
    if event == "join-channels":
        assert answer == {"channel_ids": ["team"]}
    assert await alice.say("ops", "still a member?") is None
    error = await alice.wait_for_error()
    assert error["code"] == "forbidden" and "ops" in error["message"]

    await bob.say("ops", "members only")  # same node, same room: alice would get it now too
    await bob.wait_until(lambda: len(bob.heard()) == 1)
    assert alice.heard() == []
    assert bob.heard() == [("ops", "bob", "members only")]
    await alice.say("team", "team still works")
    await alice.wait_until(lambda: alice.heard() == [("team", "alice", "team still works")])


# -- item 7: a client that reads nothing is cut off at its queue bound -----------------------


async def test_a_client_that_reads_nothing_is_disconnected_at_its_queue_bound(
    cluster: Cluster, raw: OpenRaw
) -> None:
    bound = 1024 * 1024
    edge = await cluster.edge(max_client_queue_bytes=bound)
    await raw(edge, "alice", read=False)  # answers nothing, reads nothing
    healthy = await cluster.tab(edge, "alice")
    ew = await cluster.client()
    pad = "x" * (256 * 1024)
    for i in range(200):  # ~50 MB at most: kernel buffers absorb a few MB before the edge queues
        await ew.emit({"type": "message", "data": {"content": f"{i}:{pad}"}}, user_id="alice")
        await healthy.wait_for(lambda events, n=i + 1: len(events) == n)
        if stats(edge)["slow_consumers_disconnected"]:
            break
    assert stats(edge)["slow_consumers_disconnected"] == 1
    assert 0 < stats(edge)["client_queue_peak_bytes"] <= bound
    await eventually(lambda: stats(edge)["sessions"] == 1)

    sent = len(healthy.events)
    await ew.emit({"type": "status", "data": {"description": "after"}}, user_id="alice")
    await healthy.wait_for(lambda events: len(events) == sent + 1)
    assert stats(edge)["slow_consumers_disconnected"] == 1


# -- item 8: binary attachments count toward the packet limit before they are buffered -------


def binary_header(event: str, attachments: int) -> str:
    placeholders = [{"_placeholder": True, "num": i} for i in range(attachments)]
    return f"45{attachments}-" + json.dumps([event, *placeholders])


async def test_attachments_count_toward_the_packet_limit_as_they_arrive(
    cluster: Cluster, raw: OpenRaw
) -> None:
    edge = await cluster.edge(max_client_packet_bytes=64 * 1024)
    socket = await raw(edge, "alice")
    chunk = b"\0" * (40 * 1024)
    await socket.send(binary_header("blob", 3))
    await socket.send(chunk)
    await socket.send(chunk)  # 80 KiB so far, one attachment still to come: refused now
    error = await socket.wait_for_error("payload_too_large")
    assert "65536" in error["message"]
    await socket.send(chunk)  # the rest of the refused packet is dropped unread
    assert await socket.ask("user-list") == {"user_ids": ["alice"]}
    assert stats(edge)["client_packets_too_large"] == 1

    await socket.send(binary_header("blob", 1))  # a small binary event still reaches the gate
    await socket.send(b"abc")
    await socket.wait_for_error("unknown_event")


async def test_a_packet_declaring_too_many_attachments_is_refused_at_once(
    cluster: Cluster, raw: OpenRaw
) -> None:
    edge = await cluster.edge(max_client_packet_attachments=10)
    socket = await raw(edge, "alice")
    await socket.send(binary_header("blob", 11))
    error = await socket.wait_for_error("payload_too_large")
    assert "11 attachments" in error["message"]
    for _ in range(11):
        await socket.send(b"x")
    assert await socket.ask("user-list") == {"user_ids": ["alice"]}


async def test_a_binary_answer_over_the_limit_fails_its_call_at_once(
    cluster: Cluster, raw: OpenRaw
) -> None:
    edge = await cluster.edge(max_payload_bytes=64 * 1024)
    socket = await raw(edge, "alice")
    ew = await cluster.client()
    asked = {"type": "input", "data": {"title": "file?"}}
    call = asyncio.create_task(
        ew.call(asked, user_id="alice", session_id=socket.sid or "", timeout=60)
    )
    request = await socket.wait_for(lambda p: p.startswith("2") and '["events"' in p)
    ack_id = request[1 : request.index("[")]
    await socket.send(f'461-{ack_id}[{{"_placeholder":true,"num":0}}]')
    await socket.send(b"\0" * (80 * 1024))
    with pytest.raises(errors.ClientError, match="65536"):
        await call  # at once: not after its 60 s timeout
    assert stats(edge)["client_packets_too_large"] == 1


# -- item 9: `usage` cannot amplify itself into the node's presence --------------------------


async def test_usage_model_names_and_models_per_session_are_bounded(cluster: Cluster) -> None:
    bounds = {"max_model_name_length": 64, "max_models_per_session": 4}
    e1, e2 = await cluster.edge(**bounds), await cluster.edge(**bounds)
    alice = await member(cluster, e1, "alice")
    assert await alice.ask("usage", {"model": "m" * 65}) is None
    error = await alice.wait_for_error()
    assert error["code"] == "invalid_event" and "64" in error["message"]
    for i in range(10):
        await alice.ask("usage", {"model": f"model-{i}"})
    latest = [f"model-{i}" for i in range(6, 10)]
    assert e1.node.models_in_use() == latest  # the least recently reported go first
    await eventually(lambda: e2.node.models_in_use() == latest)


async def test_the_usage_answer_carries_a_bounded_list(cluster: Cluster) -> None:
    edge = await cluster.edge(max_models_in_answer=3)
    tabs = [await member(cluster, edge, f"user{i}") for i in range(2)]
    for i, tab in enumerate(tabs):
        await tab.ask("usage", {"model": f"a{i}"})
        await tab.ask("usage", {"model": f"b{i}"})
    assert len(edge.node.models_in_use()) == 4
    answer = await tabs[0].ask("usage", {"model": "a0"})
    assert answer == {"models": ["a0", "a1", "b0"]}


async def test_failing_announcements_never_stop_the_heartbeat(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # Announcements of alice's session outgrow the payload limit as she reports more models.
    fast = {"presence_interval": 0.2, "presence_ttl": 1.0, "max_payload_bytes": 2048}
    e1, e2 = await cluster.edge(**fast), await cluster.edge(**fast)
    alice = await member(cluster, e1, "alice")
    await eventually(lambda: e2.node.online_users() == ["alice"])

    stop = asyncio.Event()

    async def flood() -> None:
        i = 0
        while not stop.is_set():  # as fast as the socket's rate limit lets through
            i += 1
            await alice.ask("usage", {"model": f"{i:06d}-" + "m" * 190})

    # Stopped by a flag, never cancelled: a cancelled python-socketio call can swallow it.
    flooding = asyncio.create_task(flood())
    try:
        # Past ~9 models every change of alice's session fails: what is sent now is heartbeats.
        await eventually(lambda: stats(e1)["presence_announce_failures"] >= 1)
        beats_from = stats(e1)["presence_announced"]
        await eventually(
            lambda: stats(e1)["presence_announced"] >= beats_from + 6  # over a TTL of silence
        )
    finally:
        stop.set()
        await flooding
    assert stats(e1)["presence_announce_failures"] > 6  # the flood went on meanwhile
    assert stats(e2)["presence_expired_nodes"] == 0
    assert e2.node.online_users() == ["alice"]
    failures = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert failures and all(r.levelno == logging.WARNING for r in failures)
    assert len(failures) < stats(e1)["presence_announce_failures"]  # not one line per failure


async def test_a_snapshot_larger_than_one_message_is_split_not_dropped(cluster: Cluster) -> None:
    e1 = await cluster.edge(max_payload_bytes=16 * 1024, usage_timeout=120)
    models = {f"user{i}": [f"{i:02d}-{j}-" + "m" * 190 for j in range(8)] for i in range(12)}
    for user, names in models.items():
        tab = await member(cluster, e1, user)
        for name in names:
            await tab.ask("usage", {"model": name})
    everything = sorted(name for names in models.values() for name in names)
    assert e1.node.models_in_use() == everything  # ~19 KB of sessions: over one message

    e2 = await cluster.edge(max_payload_bytes=16 * 1024)  # learns e1's sessions by snapshot
    await eventually(lambda: e2.node.models_in_use() == everything)
    assert e2.node.online_users() == sorted(models)


# -- item 10: malformed packets are counted, answered once, logged once, rate-charged --------

MALFORMED = [
    "42[",  # bad JSON
    "42{}",  # an event that is not a list
    "42[]",  # no event name
    '42"abc"',  # a string: python-socketio would take its letters as the event and arguments
    "42[1]",  # an event name that is not a string
    "42" + "[" * 3000 + "]" * 3000,  # deeper than the JSON parser's recursion limit
    '42["x",' + "[" * 200 + "]" * 200 + "]",  # parses, but deeper than any event needs
    '42/elsewhere,["x"]',  # a namespace this connection never joined
    "43",  # an acknowledgement without an id
    '431"abc"',  # an acknowledgement that is not a list
    "45x-[]",  # a binary event with a broken header
    "4",  # an empty Socket.IO packet
    '42["x",NaN]',  # not JSON: a browser's parser fails on it
    '42["disconnect"]',  # reserved names: python-socketio would run the disconnect handler
    '42["connect",{},{"token":"x"}]',
]


async def test_malformed_packets_are_counted_answered_once_logged_once_and_rate_charged(
    cluster: Cluster, raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    burst = len(MALFORMED) + 1
    edge = await cluster.edge(client_event_burst=burst, client_event_rate=0.001)
    socket = await raw(edge, "alice")
    for frame in MALFORMED:
        await socket.send(frame)
    # The next well-formed event is answered: the connection survived every one of them.
    assert await socket.ask("user-list") == {"user_ids": ["alice"]}
    assert stats(edge)["client_packets_malformed"] == len(MALFORMED)
    errors = [e["code"] for e in socket.events("error")]
    assert errors == ["invalid_event"]  # once per run of malformed packets

    await socket.send("42[")  # the bucket is empty now: charged to the rate limit
    await socket.wait_for_error("rate_limited")
    assert stats(edge)["client_events_limited"] == 1
    assert stats(edge)["client_packets_malformed"] == len(MALFORMED)

    assert [r for r in caplog.records if r.exc_info] == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    lines = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) == 1


async def test_a_malformed_packet_before_connecting_closes_the_connection(
    cluster: Cluster, raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    edge = await cluster.edge()
    socket = await raw(edge, None)
    await socket.send("42[")
    await socket.wait_closed()
    assert stats(edge)["client_packets_malformed"] == 1
    assert [r for r in caplog.records if r.exc_info] == []


async def test_a_malformed_polling_payload_ends_that_connection_cleanly(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    edge = await cluster.edge()
    polling = f"{edge.url}{SOCKETIO_PATH}/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(polling) as response:
            sid = json.loads((await response.text())[1:])["sid"]
        async with http.post(f"{polling}&sid={sid}", data="9not-engine.io\x1e") as response:
            assert response.status == 400
    assert stats(edge)["transport_frames_malformed"] == 1
    assert [r for r in caplog.records if r.exc_info] == []


# -- item 11: channels per connection are bounded; big joins do not hold up other connects ---


async def test_channels_per_connection_are_bounded(cluster: Cluster) -> None:
    edge = await cluster.edge(max_channels_per_connection=20)
    claimed = [f"c{i:03d}" for i in range(50)]
    alice = await member(cluster, edge, "alice", channels=claimed)
    answer = await alice.join()
    assert answer == {"channel_ids": claimed[:20]}
    error = await alice.wait_for_error()
    assert error["code"] == "forbidden"
    assert "EVENTWIRE_MAX_CHANNELS_PER_CONNECTION" in error["message"]
    assert stats(edge)["bound_keys"] == 2 + 20  # session, user, the channels joined


async def test_a_connect_does_not_wait_for_another_sockets_thousand_channels(
    amqp_cluster: Cluster,
) -> None:
    edge = await amqp_cluster.edge()
    claimed = [f"ch{i:04d}" for i in range(1000)]
    alice = await member(amqp_cluster, edge, "alice", channels=claimed)
    joining = asyncio.create_task(alice.join())
    await eventually(lambda: stats(edge)["bound_keys"] >= 2 + 20)
    bob = await amqp_cluster.tab(edge, "bob")
    bound_when_bob_got_in = stats(edge)["bound_keys"]
    assert bound_when_bob_got_in < 2 + len(claimed)  # alice's join was still binding
    assert await joining == {"channel_ids": claimed}
    assert edge.node.identity(bob.sid) is not None


# -- item 16: a user id over the routing-key limit is refused at connect, leaving nothing ----


@pytest.mark.parametrize("user_id", ["u" * 300, "é" * 130], ids=["ascii", "multibyte"])
async def test_a_user_id_over_255_bytes_is_refused_at_connect_leaving_nothing(
    cluster: Cluster, user_id: str
) -> None:
    edge = await cluster.edge()
    tab = Tab(edge.url, token(user_id))
    cluster.tabs.append(tab)
    with pytest.raises(Refused) as refused:
        await tab.connect()
    assert refused.value.data == {"code": "invalid_token"}
    assert "250 bytes" in refused.value.message
    described = stats(edge)
    assert described["sessions"] == 0
    assert described["bound_keys"] == 0
    assert described["presence_sessions"] == 0
    rooms = edge.node.sio.manager.rooms.get("/", {})
    assert not [room for room in rooms if room and room.startswith("user.")]
    alice = await cluster.tab(edge, "alice")  # the node is unharmed
    assert edge.node.identity(alice.sid) is not None
