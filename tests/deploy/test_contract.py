"""The metric contract in deploy/README.md is the one the tests hold the deploy files to."""

from __future__ import annotations

import re

from .contract import DEPLOY, METRICS, metric_names


def readme_metrics() -> dict[str, str]:
    text = (DEPLOY / "README.md").read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(eventwire_[a-z_]+)` \| (\w+) \|", section, re.M)
    return dict(rows)


def test_the_readme_states_the_contract() -> None:
    assert readme_metrics() == METRICS


def test_names_follow_prometheus_conventions() -> None:
    for name, kind in METRICS.items():
        assert name.endswith("_total") == (kind == "counter"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name


def test_histogram_series_fold_into_their_metric() -> None:
    expr = "rate(eventwire_job_seconds_bucket[1m]) + eventwire_jobs_total + eventwire_nope_count"
    assert metric_names(expr) == {
        "eventwire_job_seconds",
        "eventwire_jobs_total",
        "eventwire_nope_count",
    }
