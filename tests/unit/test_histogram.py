"""The histogram processes keep on their hot paths, and its Prometheus exposition."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from eventwire.metrics import Histogram
from eventwire.prometheus import counter, histogram, registry


def test_cumulative_buckets_like_prometheus() -> None:
    h = Histogram((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0, -0.01):  # a skewed clock's negative lands in the first
        h.observe(value)
    assert h.cumulative() == [(0.1, 3), (1.0, 4), (float("inf"), 5)]
    assert h.count == 5 and abs(h.sum - 3.65) < 1e-9


def test_exposed_families_parse_back() -> None:
    h = Histogram((0.5,))
    h.observe(0.2)

    def families() -> list[Metric]:
        return [
            histogram("eventwire_x_seconds", "x", h),
            counter("eventwire_y_total", "y", {"b": 2, "a": 1}, "kind"),
        ]

    text = generate_latest(registry(families)).decode()
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["eventwire_x_seconds"].type == "histogram"
    samples = {
        (s.name, tuple(s.labels.items())): s.value for f in parsed.values() for s in f.samples
    }
    assert samples[("eventwire_x_seconds_bucket", (("le", "0.5"),))] == 1
    assert samples[("eventwire_x_seconds_count", ())] == 1
    assert samples[("eventwire_y_total", (("kind", "a"),))] == 1
