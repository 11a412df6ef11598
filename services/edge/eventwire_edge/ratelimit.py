"""Per-connection limits on what a client may send: a token bucket per socket."""

from __future__ import annotations


class TokenBucket:
    """``rate`` events per second sustained, ``burst`` at once; time is passed in."""

    __slots__ = ("_burst", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        elapsed = max(now - self._updated, 0.0)
        self._updated = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
