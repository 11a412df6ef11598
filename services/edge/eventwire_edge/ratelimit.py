"""Limits on what a client may send: a token bucket per socket, or per key (scoped tokens)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TokenBucket:
    """``rate`` events per second sustained, ``burst`` at once; time is passed in."""

    __slots__ = ("_burst", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = now

    @property
    def updated(self) -> float:
        """When the bucket was last used."""
        return self._updated

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        elapsed = max(now - self._updated, 0.0)
        self._updated = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class KeyedBuckets(Generic[K]):
    """One bucket per key, for keys that come and go; never more than ``capacity`` buckets.

    A bucket left unused for ``burst / rate`` seconds has refilled: it is the same as a new
    one, so it is dropped (nothing is forgotten). Beyond ``capacity`` busy keys the least
    recently used bucket goes first; that key then starts again from a full burst, which is
    the price of a memory bound that no number of keys can break.
    """

    def __init__(self, rate: float, burst: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._rate = rate
        self._burst = burst
        self._capacity = capacity
        self._refill = burst / rate
        # Least recently used first: every take moves its key to the end.
        self._buckets: OrderedDict[K, TokenBucket] = OrderedDict()
        self.evicted = 0  # busy buckets dropped for the capacity (not idle ones)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: K, now: float) -> bool:
        """Spend one of ``key``'s tokens if it has one."""
        self._drop_idle(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = TokenBucket(self._rate, self._burst, now)
        self._buckets[key] = bucket
        while len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
            self.evicted += 1
        return bucket.take(now)

    def _drop_idle(self, now: float) -> None:
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < self._refill:
                return
            self._buckets.popitem(last=False)
