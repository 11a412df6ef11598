from __future__ import annotations

from eventwire_edge.ratelimit import TokenBucket


def test_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5)  # one token back after 1/rate seconds
    assert not bucket.take(0.5)
    assert [bucket.take(100) for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_a_clock_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=10)
    assert bucket.take(10)
    assert not bucket.take(5)
