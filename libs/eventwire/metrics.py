"""Counting that costs next to nothing where it happens; turned into metrics only when scraped.

Processes keep plain counters (ints, dicts, these histograms) on their hot paths and expose them
through a Prometheus collector read at scrape time (``eventwire.prometheus``), instead of
calling a metrics library per event: one ``observe`` is a bisect and two additions, no lock
(each histogram belongs to one event loop).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Seconds: from sub-millisecond hops on a local broker to a user answering a dialog.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CALL_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class Histogram:
    """Counts per upper bound (``le``), plus their sum, as Prometheus histograms have them."""

    __slots__ = ("_counts", "bounds", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    @property
    def count(self) -> int:
        return sum(self._counts)

    def observe(self, value: float) -> None:
        if value < 0.0:  # noqa: PLR1730 (a branch costs less than max() here, once per event)
            value = 0.0  # clocks of two hosts can disagree by a little
        self._counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), ending with (+inf, count)."""
        total = 0
        buckets: list[tuple[float, int]] = []
        for bound, n in zip((*self.bounds, float("inf")), self._counts, strict=True):
            total += n
            buckets.append((bound, total))
        return buckets
