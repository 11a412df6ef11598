"""Connection state recovery on the real broker: a tab whose transport drops comes back to
any edge with socket.io's pid / offset and gets what it missed, once, in order; its pending
calls are asked again; a closed tab fails them at once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiormq
import pytest
from aiormq.abc import ChannelFrame
from pamqp import commands as amqp

from eventwire import BrokerUnavailable, ClientDisconnected, SessionOffline
from eventwire.amqp import mailbox as amqp_mailbox
from eventwire.auth import mint_token
from eventwire.backends import open_bus
from eventwire_edge import drain, mailbox_sessions
from eventwire_edge.drain import drop_transport
from eventwire_edge.recovery import mint_pid, read_pid
from eventwire_edge.server import EdgeServer
from tests.support.cluster import Cluster
from tests.support.tabs import Tab, eventually

CONFIRM = {"type": "confirmation", "data": {"title": "Still there?"}}


def status(n: int) -> dict[str, Any]:
    return {"type": "status", "data": {"description": f"step {n}"}}


def steps(tab: Tab) -> list[str]:
    return [e["data"]["data"]["description"] for e in tab.events if e["data"]["type"] == "status"]


async def recovering_tab(cluster: Cluster, edge: EdgeServer, user_id: str) -> Tab:
    tab = Tab(
        edge.url, mint_token(user_id, cluster.settings.secret), name=user_id, reconnection=True
    )
    tab.client.reconnection_delay = tab.client.reconnection_delay_max = 0.05
    tab.client.randomization_factor = 0
    cluster.tabs.append(tab)
    return await tab.connect()


async def gone(connection: aiormq.abc.AbstractConnection, name: str) -> bool:
    """Whether queue ``name`` is missing (a passive declare on a channel of its own, which a
    missing queue closes; note that one renews an existing queue's x-expires lease)."""
    probe = await connection.channel()
    try:
        await probe.queue_declare(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return True
    await probe.close()
    return False


async def reconnected(tab: Tab, connects: int) -> None:
    await eventually(lambda: tab.connects >= connects and tab.client.connected)


async def test_a_dropped_tab_gets_what_it_missed_on_another_edge(amqp_cluster: Cluster) -> None:
    a, b = await amqp_cluster.edge(), await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    tab = await recovering_tab(amqp_cluster, a, "alice")
    sid = tab.sid
    for n in range(5):
        await ew.emit(status(n), user_id="alice")
    await tab.wait_for(lambda events: len(events) == 5)

    tab.client.connection_url = b.url  # its balancer sends it to the other edge next time
    await drop_transport(a.node.sio, sid)
    for n in range(5, 40):  # while it is away, and while it comes back
        await ew.emit(status(n), user_id="alice")
    await reconnected(tab, 2)
    for n in range(40, 45):
        await ew.emit(status(n), user_id="alice")

    await tab.wait_for(lambda events: len(events) >= 45)
    assert steps(tab) == [f"step {n}" for n in range(45)]  # every one, once, in order
    assert tab.client.recovered is True
    assert tab.sid == sid  # the same session: calls to it still reach it
    recovery = b.node.describe()["recovery"]
    assert recovery["sessions_recovered"] == 1
    assert a.node.describe()["recovery"]["mailboxes_released"] == 1


async def test_what_the_tab_had_read_is_not_sent_again(amqp_cluster: Cluster) -> None:
    edge = await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    tab = await recovering_tab(amqp_cluster, edge, "alice")
    # Unconfirmed until the tab's pong: they stay in the mailbox, then the offset skips them.
    for n in range(20):
        await ew.emit(status(n), user_id="alice")
    await tab.wait_for(lambda events: len(events) == 20)
    await drop_transport(edge.node.sio, tab.sid)
    await reconnected(tab, 2)
    await ew.emit(status(20), user_id="alice")
    await tab.wait_for(lambda events: len(events) >= 21)
    assert steps(tab) == [f"step {n}" for n in range(21)]
    recovery = edge.node.describe()["recovery"]
    assert recovery["sessions_recovered"] == 1
    assert recovery["letters_replayed"] + recovery["letters_skipped"] <= 20


async def test_a_call_pending_when_the_tab_dropped_is_asked_again(amqp_cluster: Cluster) -> None:
    a, b = await amqp_cluster.edge(), await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    tab = await recovering_tab(amqp_cluster, a, "alice")
    asked: list[dict[str, Any]] = []
    first = asyncio.Event()

    async def answer(data: dict[str, Any]) -> Any:
        asked.append(data)
        if len(asked) == 1:
            first.set()
            await asyncio.Event().wait()  # the dialog is up when the transport drops
        return {"answered": len(asked)}

    tab.answer = answer
    call = asyncio.create_task(ew.call(CONFIRM, user_id="alice", session_id=tab.sid, timeout=60))
    await asyncio.wait_for(first.wait(), 20)
    tab.client.connection_url = b.url
    await drop_transport(a.node.sio, tab.sid)
    assert await asyncio.wait_for(call, 30) == {"answered": 2}
    assert [d["data"] for d in asked] == [CONFIRM, CONFIRM]
    assert b.node.describe()["recovery"]["calls_asked_again"] == 1


async def test_a_closed_tab_fails_its_call_at_once_and_its_mailbox_goes(
    amqp_cluster: Cluster,
) -> None:
    edge = await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    tab = await recovering_tab(amqp_cluster, edge, "alice")
    held = asyncio.Event()

    async def hold(_data: dict[str, Any]) -> Any:
        held.set()
        await asyncio.Event().wait()

    tab.answer = hold
    sid = tab.sid
    call = asyncio.create_task(ew.call(CONFIRM, user_id="alice", session_id=sid, timeout=3600))
    await asyncio.wait_for(held.wait(), 20)
    await tab.disconnect()  # a clean close (the client says goodbye)
    with pytest.raises(ClientDisconnected):
        await asyncio.wait_for(call, 20)
    with pytest.raises(SessionOffline):  # nothing holds its session key any more
        await ew.call(CONFIRM, user_id="alice", session_id=sid, timeout=3600)
    assert edge.node.describe()["recovery"]["mailboxes_discarded"] == 1


async def test_a_tab_back_after_the_window_gets_a_new_session(amqp_cluster: Cluster) -> None:
    edge = await amqp_cluster.edge(recovery_window=0.3)
    ew = await amqp_cluster.client()
    tab = await recovering_tab(amqp_cluster, edge, "alice")
    tab.client.reconnection_delay = tab.client.reconnection_delay_max = 2.0
    sid = tab.sid
    await drop_transport(edge.node.sio, sid)
    await ew.emit(status(0), user_id="alice")  # into the mailbox, which expires
    await reconnected(tab, 2)
    assert tab.client.recovered is False  # told: the page reloads its state
    assert tab.sid != sid
    assert edge.node.describe()["recovery"]["sessions_not_recovered"] == 1


async def test_a_forged_or_borrowed_pid_recovers_nothing(amqp_cluster: Cluster) -> None:
    edge = await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    victim = await recovering_tab(amqp_cluster, edge, "alice")
    victim_sid = victim.sid
    await drop_transport(edge.node.sio, victim_sid)
    await ew.emit(status(0), user_id="alice")

    secret = amqp_cluster.settings.secret
    for pid in (
        mint_pid("another secret", victim_sid, "mallory"),
        mint_pid(secret, victim_sid, "alice"),
    ):
        mallory = Tab(edge.url, mint_token("mallory", secret), name="mallory")
        amqp_cluster.tabs.append(mallory)
        mallory.client.pid = pid  # as if its previous connection had been given this pid
        await mallory.connect()
        assert mallory.client.recovered is False
        assert mallory.sid != victim_sid
        assert mallory.events == []
    assert read_pid(secret, "not.a-pid") is None
    recovery = edge.node.describe()["recovery"]
    assert recovery["not_recovered"] == {"bad_pid": 1, "other_user": 1}
    await reconnected(victim, 2)  # the owner still gets it back
    await victim.wait_for(lambda events: len(events) == 1)
    assert victim.client.recovered is True


async def test_a_drained_edge_sends_its_tabs_to_recover_elsewhere(amqp_cluster: Cluster) -> None:
    a, b = await amqp_cluster.edge(drain_delay=0), await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    tab = await recovering_tab(amqp_cluster, a, "alice")
    sid = tab.sid
    await ew.emit(status(0), user_id="alice")
    await tab.wait_for(lambda events: len(events) == 1)
    tab.client.connection_url = b.url
    await a.node.drain(grace=10)
    await ew.emit(status(1), user_id="alice")
    await reconnected(tab, 2)
    await tab.wait_for(lambda events: len(events) == 2)
    assert steps(tab) == ["step 0", "step 1"]
    assert tab.client.recovered is True and tab.sid == sid


async def test_a_draining_edge_gives_every_mailbox_back_before_it_drops_a_transport(
    amqp_cluster: Cluster, amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All at once, as when an edge dies (its mailbox channels close): one by one, each after
    its tab's transport, 5,000 tabs took 15 s to let go, and the last resumed that late."""
    a, b = await amqp_cluster.edge(drain_delay=0), await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    tabs = await asyncio.gather(*(recovering_tab(amqp_cluster, a, f"user{n}") for n in range(20)))
    monkeypatch.setattr(mailbox_sessions, "PING_AFTER", 3600.0)  # nothing confirmed meanwhile
    for n in range(len(tabs)):
        await ew.emit(status(0), user_id=f"user{n}")
    for tab in tabs:  # written, not confirmed by a pong: unacknowledged on the broker
        await tab.wait_for(lambda events: len(events) == 1)
        tab.client.connection_url = b.url
    names = [f"{amqp_cluster.settings.namespace}.mailbox.{tab.sid}" for tab in tabs]
    connection = await aiormq.connect(amqp_url)
    probe = await connection.channel()
    seen: list[list[tuple[int, int]]] = []

    async def every_mailbox() -> list[tuple[int, int]]:
        """(consumers, letters waiting) of every tab's mailbox."""
        oks = [await probe.queue_declare(name, passive=True) for name in names]
        return [(ok.consumer_count or 0, ok.message_count or 0) for ok in oks]

    async def free() -> bool:
        seen.append(await every_mailbox())
        return seen[-1] == [(0, 1)] * len(names)  # nobody consumes it, its letter is back

    first_drop = asyncio.Event()

    async def drop(sio: Any, sid: str) -> None:
        if not first_drop.is_set():
            first_drop.set()
            await eventually(free)  # before any tab is sent away
        await drop_transport(sio, sid)

    monkeypatch.setattr(drain, "drop_transport", drop)
    try:
        await a.node.drain(grace=10)
    finally:
        await connection.close()
    assert first_drop.is_set() and seen[-1] == [(0, 1)] * len(names)
    for n, tab in enumerate(tabs):
        await reconnected(tab, 2)
        assert tab.client.recovered is True
        await ew.emit(status(1), user_id=f"user{n}")
        await tab.wait_for(lambda events: len(events) == 2)
        assert steps(tab) == ["step 0", "step 1"]  # none twice, none lost
    recovery = a.node.describe()["recovery"]
    assert recovery["mailboxes_released"] == 20 and recovery["mailboxes"] == 0


async def test_tabs_connecting_at_once_share_the_round_trips_that_attach_their_mailboxes(
    amqp_cluster: Cluster,
) -> None:
    edge = await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    before = edge.node.describe()["recovery"]["mailbox_commits"]
    tabs = await asyncio.gather(
        *(recovering_tab(amqp_cluster, edge, f"user{n}") for n in range(60))
    )
    # Each CONNECT was answered only once its mailbox was declared, bound and consumed:
    # an event to the session, sent right after, is delivered, and exactly once.
    for n, tab in enumerate(tabs):
        await ew.emit(status(0), user_id=f"user{n}", session_id=tab.sid)
    for tab in tabs:
        await tab.wait_for(lambda events: len(events) >= 1)
        assert steps(tab) == ["step 0"]
    recovery = edge.node.describe()["recovery"]
    assert recovery["mailboxes"] == 60
    commits = recovery["mailbox_commits"] - before
    assert 1 <= commits < 60  # batched: fewer round trips than mailboxes


async def test_tabs_closing_at_once_share_the_round_trips_that_delete_their_mailboxes(
    amqp_cluster: Cluster, amqp_url: str
) -> None:
    edge = await amqp_cluster.edge()
    tabs = await asyncio.gather(
        *(recovering_tab(amqp_cluster, edge, f"user{n}") for n in range(40))
    )
    names = [f"{amqp_cluster.settings.namespace}.mailbox.{tab.sid}" for tab in tabs]
    before = edge.node.describe()["recovery"]["mailbox_commits"]
    await asyncio.gather(*(tab.disconnect() for tab in tabs))  # clean closes, all at once
    connection = await aiormq.connect(amqp_url)

    try:
        for name in names:  # every queue is deleted, its consumer with it
            await eventually(lambda name=name: gone(connection, name))
    finally:
        await connection.close()
    recovery = edge.node.describe()["recovery"]
    assert recovery["mailboxes_discarded"] == 40 and recovery["mailboxes"] == 0
    assert 1 <= recovery["mailbox_commits"] - before < 40  # batched: fewer than mailboxes


async def test_a_commit_whose_committer_is_cancelled_before_it_starts_fails_and_frees_the_channel(
    amqp_cluster: Cluster,
) -> None:
    """The edge stopping just as a mailbox attaches or goes: its commit raises at once (it
    used to wait for ever, and every later commit on that channel with it)."""
    bus = open_bus(amqp_cluster.settings)
    await bus.start()
    try:
        mailboxes = await bus.mailboxes()  # type: ignore[attr-defined]
        channel = mailboxes._channel_for("s1")
        name = f"{amqp_cluster.settings.namespace}.commit-test"
        method = amqp.Queue.Declare(queue=name, auto_delete=True, nowait=True)
        declare = ChannelFrame.marshall(channel_number=channel.number, frames=[method]).payload
        first = asyncio.create_task(mailboxes.commit(channel, declare))
        await asyncio.sleep(0)  # it spawned its committer, which has not run yet ...
        await mailboxes._attaching.close()  # ... and is cancelled before it starts
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(first, 20)
        await asyncio.wait_for(mailboxes.commit(channel, declare), 20)  # the channel commits
        assert mailboxes.commits >= 1
    finally:
        await bus.close()


@pytest.mark.parametrize("lease_share, skipped", [(0.5, 1), (0.0, 0)])
async def test_a_resumed_mailbox_routes_by_both_keys_whether_it_is_bound_again_or_not(
    amqp_cluster: Cluster, monkeypatch: pytest.MonkeyPatch, lease_share: float, skipped: int
) -> None:
    # The probe that finds a mailbox renews its lease, so its bindings are still there and a
    # resume within the window skips them; with no share of the window left it binds again.
    monkeypatch.setattr(amqp_mailbox, "LEASE_SHARE", lease_share)
    a, b = await amqp_cluster.edge(), await amqp_cluster.edge()
    ew = await amqp_cluster.client()
    tab = await recovering_tab(amqp_cluster, a, "alice")
    sid = tab.sid
    tab.client.connection_url = b.url
    await drop_transport(a.node.sio, sid)
    await reconnected(tab, 2)
    assert tab.client.recovered is True and tab.sid == sid
    await ew.emit(status(0), user_id="alice")  # by the user's key
    await ew.emit(status(1), user_id="alice", session_id=sid)  # by the session's
    await tab.wait_for(lambda events: len(events) >= 2)
    assert steps(tab) == ["step 0", "step 1"]
    assert b.node.describe()["recovery"]["rebinds_skipped"] == skipped


async def test_a_passive_declare_renews_a_mailbox_lease(amqp_url: str) -> None:
    """What resuming without binds relies on (``eventwire.amqp.mailbox``): RabbitMQ counts a
    passive declare as a redeclare, so a queue probed within its x-expires does not expire
    (while one left alone beside it does)."""
    connection = await aiormq.connect(amqp_url)
    tag = uuid.uuid4().hex[:8]
    probed, left = f"lease-test.{tag}.probed", f"lease-test.{tag}.left"
    try:
        channel = await connection.channel()
        for name in (probed, left):
            await channel.queue_declare(name, durable=True, arguments={"x-expires": 1500})

        async def exists(name: str) -> bool:
            return not await gone(connection, name)

        # Probed every 0.3 s for 4 s (x-expires 1.5 s): kept. `left` is looked at only once at
        # the end (a look is a passive declare, and would renew it too): gone.
        for n in range(14):
            await asyncio.sleep(0.3)
            assert await exists(probed), f"the probed queue expired after {n} probes"
        assert not await exists(left)  # x-expires works here: the probes kept `probed`
    finally:
        cleanup = await connection.channel()
        for name in (probed, left):
            await cleanup.queue_delete(name)
        await connection.close()
