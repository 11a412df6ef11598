"""The replica's rules, with an explicit clock: order, gaps, snapshots, expiry, restarts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eventwire.presence import Replica, chunks
from eventwire.protocol import (
    PresenceBeat,
    PresenceChange,
    PresenceDraining,
    PresenceSnapshot,
    PresentSession,
)
from eventwire.settings import Settings

TTL = 6.0


def replica() -> Replica:
    return Replica(ttl=TTL, resync_after=2.0, lost_for=20.0)


def s(sid: str, user: str, *models: str) -> PresentSession:
    return PresentSession(session_id=sid, user_id=user, models=models)


def change(node: str, seq: int, session: PresentSession, online: bool = True) -> PresenceChange:
    return PresenceChange(node_id=node, incarnation="i1", seq=seq, session=session, online=online)


def beat(node: str, seq: int, *, leaving: bool = False, inc: str = "i1") -> PresenceBeat:
    return PresenceBeat(node_id=node, incarnation=inc, seq=seq, leaving=leaving)


def snapshot(node: str, seq: int, *sessions: PresentSession, **kw: object) -> PresenceSnapshot:
    return PresenceSnapshot(
        node_id=node, incarnation=kw.pop("inc", "i1"), seq=seq, sessions=list(sessions), **kw
    )


def test_changes_in_order_need_no_snapshot() -> None:
    r = replica()
    assert not r.receive(change("a", 1, s("s1", "alice")), now=0)
    assert not r.receive(change("a", 2, s("s2", "bob", "llama")), now=0)
    assert not r.receive(change("b", 1, s("s3", "alice", "gpt")), now=0)
    assert r.user_ids() == ["alice", "bob"]
    assert r.models_in_use() == ["gpt", "llama"]
    assert [x.session_id for x in r.sessions_of("alice")] == ["s1", "s3"]
    assert not r.receive(change("a", 3, s("s2", "bob"), online=False), now=0)
    assert r.user_ids() == ["alice"]
    assert r.models_in_use() == ["gpt"]
    assert not r.receive(beat("a", 3), now=1)
    assert r.pending_sync() == set()


def test_a_gap_asks_for_a_snapshot_once_which_then_replaces_the_node() -> None:
    r = replica()
    r.receive(change("a", 1, s("s1", "alice")), now=0)
    assert r.receive(change("a", 3, s("s3", "carol")), now=0)  # seq 2 was lost
    assert not r.receive(beat("a", 3), now=1)  # asked already, not again so soon
    assert r.receive(beat("a", 3), now=2.5)  # no answer yet: ask again
    assert r.pending_sync() == {"a"}
    r.receive(snapshot("a", 3, s("s1", "alice"), s("s2", "bob")), now=3)
    assert r.pending_sync() == set()
    assert r.user_ids() == ["alice", "bob"]  # carol's change was not in the node's state
    assert not r.receive(change("a", 3, s("s9", "zed")), now=3)  # old: ignored
    assert r.user_ids() == ["alice", "bob"]


def test_a_late_replica_asks_a_node_it_meets_mid_stream() -> None:
    r = replica()
    assert r.receive(beat("a", 41), now=0)
    assert r.user_ids() == []
    r.receive(snapshot("a", 41, s("s1", "alice")), now=0)
    assert r.is_online("alice")
    assert not r.receive(change("a", 42, s("s2", "bob")), now=0)
    assert r.user_ids() == ["alice", "bob"]


def test_snapshots_in_parts_apply_on_the_last() -> None:
    r = replica()
    r.receive(beat("a", 5), now=0)
    r.receive(snapshot("a", 5, s("s1", "u1"), part=0, last=False), now=0)
    assert r.user_ids() == []
    r.receive(snapshot("a", 5, s("s2", "u2"), part=1, last=True, peers=["a", "b"]), now=0)
    assert r.user_ids() == ["u1", "u2"]
    assert r.peers_named == {"a", "b"}


def test_silent_nodes_expire_and_their_sessions_are_lost() -> None:
    r = replica()
    r.receive(change("a", 1, s("s1", "alice", "m")), now=0)
    r.receive(change("b", 1, s("s2", "bob")), now=0)
    r.receive(beat("b", 1), now=5)
    assert r.expire(now=TTL) == []  # not yet over the TTL
    lost = r.expire(now=TTL + 0.1)
    assert [x.session_id for x in lost] == ["s1"]
    assert r.nodes() == ["b"]
    assert r.user_ids() == ["bob"]
    assert r.models_in_use() == []
    assert r.is_lost("s1")
    assert not r.is_lost("s2")
    r.expire(now=TTL + 20.2)  # remembered only for `lost_for`
    assert not r.is_lost("s1")


def test_a_silent_node_whose_tabs_recover_leaves_the_view_but_loses_nothing() -> None:
    r = replica()
    first = PresenceChange(
        node_id="a", incarnation="i1", seq=1, session=s("s1", "alice"), recovers=True
    )
    r.receive(first, now=0)  # known from its first announcement, not only from beats
    assert r.expire(now=TTL + 0.1) == []  # calls to s1 keep waiting: the tab may come back
    assert r.nodes() == [] and r.user_ids() == []
    assert not r.is_lost("s1")


def test_a_goodbye_drops_the_node_without_marking_sessions_lost() -> None:
    r = replica()
    r.receive(change("a", 1, s("s1", "alice")), now=0)
    r.receive(beat("a", 1, leaving=True), now=1)
    assert r.user_ids() == []
    assert r.nodes() == []
    assert not r.is_lost("s1")


def test_a_restarted_node_inherits_nothing() -> None:
    r = replica()
    r.receive(change("a", 1, s("s1", "alice")), now=0)
    r.receive(change("a", 2, s("s2", "bob")), now=0)
    r.receive(beat("a", 0, inc="i2"), now=1)  # same id, new process
    assert r.user_ids() == []
    assert r.pending_sync() == set()


def test_own_sessions_never_expire_and_own_echoes_are_ignored() -> None:
    r = replica()
    r.own("me", "i1")
    r.put_local("me", s("s1", "alice"))
    assert not r.receive(change("me", 1, s("s9", "echo")), now=0)
    assert r.user_ids() == ["alice"]
    assert r.expire(now=1000) == []
    r.remove_local("me", "s1")
    assert r.user_ids() == []


def test_after_being_cut_off_every_node_gets_a_fresh_ttl() -> None:
    r = replica()
    r.receive(change("a", 1, s("s1", "alice")), now=0)
    r.heard_all(now=100)
    assert r.expire(now=100 + TTL) == []
    assert r.is_online("alice")


def test_chunks() -> None:
    sessions = [s(f"s{i}", "u") for i in range(5)]
    assert [len(c) for c in chunks(sessions, 2)] == [2, 2, 1]
    assert chunks([], 2) == [[]]


def test_ttl_must_outlive_two_heartbeats() -> None:
    with pytest.raises(ValidationError, match="presence_ttl"):
        Settings(presence_interval=2, presence_ttl=3)
    defaults = Settings()
    # The README promises a dead node's sessions leave every view within TTL + half an
    # interval: 7 s by default.
    assert defaults.presence_ttl + defaults.presence_interval / 2 == 7


def test_announcements_round_trip_through_the_codec() -> None:
    from eventwire import codec
    from eventwire.protocol import ChannelEmit, PresenceSync

    for message in (
        change("a", 1, s("s1", "alice", "m1", "m2"), online=False),
        beat("a", 7, leaving=True),
        snapshot("a", 7, s("s1", "alice"), part=1, last=False, peers=["b"]),
        PresenceSync(reply_to="q", node_id=None),
        ChannelEmit(channel_id="c", payload={"channel_id": "c", "data": {"type": "typing"}}),
    ):
        assert codec.decode(codec.encode(message)) == message


def test_a_draining_node_keeps_its_sessions_and_is_named_as_a_handoff_source() -> None:
    r = replica()
    r.own("me", "i0")
    r.put_local("me", s("s0", "alice"))
    r.receive(change("a", 1, s("s1", "alice")), now=0)
    r.receive(change("b", 1, s("s2", "alice")), now=0)
    r.receive(change("b", 2, s("s3", "bob")), now=0)
    assert r.handoff_sources("alice") == {}
    drain = PresenceDraining(node_id="a", incarnation="i1", seq=1, queue="ns.node.a")
    assert not r.receive(drain, now=1)  # also its heartbeat: seq in order, no resync
    assert r.handoff_sources("alice") == {"a": "ns.node.a"}
    assert r.handoff_sources("bob") == {}
    assert [x.session_id for x in r.sessions_of("alice")] == ["s0", "s1", "s2"]
    r.receive(beat("a", 1, leaving=True), now=2)  # gone: nothing left to ask for
    assert r.handoff_sources("alice") == {}
