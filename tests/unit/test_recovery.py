"""Recovery's pieces without a broker: pids, what a pong confirms, what a reconnect replays."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from eventwire.auth import Identity, mint_token
from eventwire.mailbox import Backlog, Letter
from eventwire.protocol import CallRequest, Emit, Message
from eventwire_edge.recovery import Claim, Recovery, Tracker, mint_pid, read_pid

SECRET = "s3cret"


def emit(n: int) -> Emit:
    return Emit(user_id="u", payload={"n": n})


def call(n: int) -> CallRequest:
    return CallRequest(
        id=f"c{n}", user_id="u", session_id="s", payload={}, timeout=10, reply_to="r"
    )


def letter(message: Message | None, n: int, *, redelivered: bool = True) -> Letter:
    return Letter(
        key="user.u", message=message, id=f"m{n}", redelivered=redelivered, size=10, tag=n
    )


def test_a_pid_names_its_session_and_user_and_nothing_else_reads() -> None:
    pid = mint_pid(SECRET, "sid-1", "alice")
    assert read_pid(SECRET, pid) == ("sid-1", "alice")
    assert read_pid("other", pid) is None  # another deployment's secret
    body, signature = pid.split(".")
    forged = mint_pid(SECRET, "sid-1", "mallory").split(".")[0]
    assert read_pid(SECRET, f"{forged}.{signature}") is None  # someone else's signature
    for junk in (None, 3, "", "a.b.c", "x" * 600, f"{body}.", "!!.??"):
        assert read_pid(SECRET, junk) is None


def test_a_pong_confirms_what_was_written_before_its_ping() -> None:
    tracker = Tracker()
    for n in range(3):
        tracker.wrote(letter(emit(n), n))
    tracker.pinged()  # the ping is queued after the third
    tracker.wrote(letter(emit(3), 3))
    tracker.pinged()
    tracker.wrote(letter(emit(4), 4))
    assert [x.id for x in tracker.ponged()] == ["m0", "m1", "m2"]
    assert [x.id for x in tracker.ponged()] == ["m3"]
    assert tracker.ponged() == []  # a pong nobody asked for confirms nothing
    assert tracker.since_ping == 1
    assert [x.id for x in tracker.unconfirmed] == ["m4"]


def test_a_written_letter_given_out_again_takes_the_old_ones_place() -> None:
    tracker = Tracker()
    old = letter(emit(0), 1)
    tracker.wrote(old)
    assert old.message is None  # the tracker keeps ids and tags, not payloads
    again = letter(emit(0), 7)
    again.id = old.id
    assert tracker.redelivered(again) is True
    assert old.tag == 7  # acknowledged with the new channel's tag
    assert tracker.redelivered(letter(emit(9), 9)) is False


def claim(offset: str | None, letters: list[Letter]) -> Claim:
    return Claim(
        "s",
        Identity(id="u"),
        "",
        offset,
        mailbox=None,
        backlog=Backlog(letters),  # type: ignore[arg-type]
    )


def test_replay_skips_events_up_to_the_offset_but_never_calls() -> None:
    letters = [letter(emit(0), 0), letter(call(1), 1), letter(emit(2), 2), letter(emit(3), 3)]
    read, again = Recovery.replay(claim("m2", letters))
    assert [x.id for x in read] == ["m0", "m2"]
    assert [x.id for x in again] == ["m1", "m3"]  # the unanswered call is asked again


def test_replay_sends_everything_when_the_offset_is_not_in_the_backlog() -> None:
    letters = [letter(emit(0), 0), letter(emit(1), 1, redelivered=False)]
    for offset in (None, "acknowledged-long-ago"):
        read, again = Recovery.replay(claim(offset, letters))
        assert read == [] and [x.id for x in again] == ["m0", "m1"]


def test_acks_of_an_unbroken_run_go_as_one_multiple_ack() -> None:
    from eventwire.amqp.mailbox import plan_acks

    settled: set[int] = set()
    # 1 and 2 unconfirmed yet: 3 and 5 go alone
    plan, upto = plan_acks(0, settled, [3, 5])
    assert (plan, upto) == ([(3, False), (5, False)], 0)
    # 1, 2 and 4 now: with 3 and 5 before, everything up to 5 is settled; 4 is the last new
    plan, upto = plan_acks(upto, settled, [2, 1, 4])
    assert (plan, upto) == ([(4, True)], 5)
    assert settled == set()
    # a tag settled otherwise (nacked) joins the run without being acknowledged
    settled.add(6)
    plan, upto = plan_acks(upto, settled, [7, 9])
    assert (plan, upto) == ([(7, True), (9, False)], 7)
    assert settled == {9}


class OneMailbox:
    """Mailboxes holding one resumable mailbox (``Recovery.claim`` needs nothing else)."""

    def __init__(self) -> None:
        self.resumed: list[str] = []

    async def resume(self, session_id: str, keys: Sequence[str], wait: float) -> Any:
        self.resumed.append(session_id)
        return object(), Backlog()


def test_a_claim_keeps_what_it_verified_the_token_to_for_that_connect_only() -> None:
    secret = "recovery-unit-test-secret-" + "0123456789" * 4
    mailboxes = OneMailbox()
    recovery = Recovery(secret, mailboxes, 1.0)  # type: ignore[arg-type]
    token = mint_token("alice", secret)
    auth = {"pid": mint_pid(secret, "sid-1", "alice"), "token": token, "offset": "m3"}

    async def no_drop(sid: str) -> None:
        raise AssertionError("not connected here")

    claim = asyncio.run(recovery.claim(auth, lambda sid: False, no_drop))
    assert claim is not None and mailboxes.resumed == ["sid-1"]
    identity = recovery.verified("sid-1", token)
    assert identity is not None and identity.id == "alice"
    # Another token (even the same user's), another sid, or no token: the gate verifies.
    assert recovery.verified("sid-1", mint_token("alice", secret, expires_in=60)) is None
    assert recovery.verified("sid-2", token) is None
    assert recovery.verified("sid-1", None) is None
    assert recovery.take("sid-1") is claim
    assert recovery.verified("sid-1", token) is None  # the session opened: nothing is kept
