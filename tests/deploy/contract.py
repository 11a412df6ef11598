"""What the deploy files may name: the metric contract (deploy/README.md) and the paths."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

# name -> type; the edge and worker implement exactly these (deploy/README.md, "Metrics").
METRICS: dict[str, str] = {
    "eventwire_connections": "gauge",
    "eventwire_bound_keys": "gauge",
    "eventwire_events_in_total": "counter",
    "eventwire_events_out_total": "counter",
    "eventwire_delivery_seconds": "histogram",
    "eventwire_call_seconds": "histogram",
    "eventwire_calls_total": "counter",
    "eventwire_outbox_depth": "gauge",
    "eventwire_broker_connected": "gauge",
    "eventwire_broker_reconnects_total": "counter",
    "eventwire_presence_sessions": "gauge",
    "eventwire_client_refusals_total": "counter",
    "eventwire_jobs_total": "counter",
    "eventwire_jobs_running": "gauge",
    "eventwire_job_seconds": "histogram",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_EVENTWIRE_NAME = re.compile(r"\beventwire_[a-z_]+\b")
_RABBITMQ_NAME = re.compile(r"\brabbitmq_[a-z_]+\b")


def metric_names(expr: str) -> set[str]:
    """``eventwire_*`` names an expression uses, histogram suffixes folded into their metric."""
    return {_folded(name) for name in _EVENTWIRE_NAME.findall(expr)}


def _folded(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and METRICS.get(base) == "histogram":
            return base
    return name


def rabbitmq_metric_names(expr: str) -> set[str]:
    return set(_RABBITMQ_NAME.findall(expr))


def tool(name: str) -> str:
    """A command from the venv (where `make` installs promtool and hadolint) or the PATH."""
    found = shutil.which(name, path=f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/bin")
    if found is None:
        raise AssertionError(f"{name} is not installed: run `make test` (it installs it)")
    return found
