from __future__ import annotations

from eventwire_edge.ratelimit import KeyedBuckets, TokenBucket


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


def test_keyed_buckets_are_independent() -> None:
    buckets: KeyedBuckets[str] = KeyedBuckets(rate=1, burst=2, capacity=10)
    assert [buckets.take("a", 0) for _ in range(3)] == [True, True, False]
    assert buckets.take("b", 0)
    assert len(buckets) == 2


def test_idle_buckets_are_dropped_once_refilled() -> None:
    buckets: KeyedBuckets[str] = KeyedBuckets(rate=2, burst=4, capacity=10)  # refill: 2 s
    for key in "abc":
        buckets.take(key, 0)
    buckets.take("a", 1.5)
    buckets.take("d", 2.0)  # b and c are full again: forgotten, nothing lost
    assert len(buckets) == 2
    assert buckets.evicted == 0


def test_many_keys_never_hold_more_than_capacity() -> None:
    buckets: KeyedBuckets[int] = KeyedBuckets(rate=1, burst=1, capacity=100)
    for key in range(10_000):  # all busy: none has refilled
        buckets.take(key, 0)
    assert len(buckets) == 100
    assert buckets.evicted == 10_000 - 100
    assert not buckets.take(9_999, 0)  # the most recent keys keep their state
