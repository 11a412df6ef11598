"""Prometheus config, alert rules (with promtool's unit tests) and the Grafana dashboard.

promtool is Debian's (package `prometheus`; `make` extracts only the promtool binary, so no
Prometheus server is installed or started). Every PromQL expression of the rules and the
dashboard may name only the metric contract's eventwire_* metrics; the dashboard's expressions
are parsed by promtool too (as recording rules, Grafana's variables substituted).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .contract import DEPLOY, METRICS, metric_names, tool

PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "eventwire.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"


def promtool(*args: str) -> str:
    result = subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, check=False, cwd=DEPLOY
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rule_exprs() -> dict[str, str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    return {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_exprs() -> dict[str, str]:
    return {
        f"{panel['title']} [{target['refId']}]": target["expr"]
        for panel in panels(dashboard())
        for target in panel.get("targets", [])
    }


def test_config_is_valid() -> None:
    out = promtool("check", "config", "prometheus/prometheus.yml")
    assert "SUCCESS" in out and "rules.yml" in out  # the rule file is found and checked too


def test_rules_are_valid() -> None:
    assert "SUCCESS" in promtool("check", "rules", "prometheus/rules.yml")


def test_rules_fire_when_they_should() -> None:
    promtool("test", "rules", "prometheus/rules.test.yml")


def test_every_alert_has_a_unit_test() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "rules.test.yml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"]}
    assert tested == set(rule_exprs())


def test_the_alerts_the_deployment_needs() -> None:
    exprs = rule_exprs()
    needed = {
        "EventwireEdgeDown": "up{",
        "EventwireBrokerDisconnected": "eventwire_broker_connected",
        "EventwireOutboxGrowing": "eventwire_outbox_depth",
        "EventwireCallsFailing": "eventwire_calls_total",
        "EventwireJobsDeadLettered": ".jobs\\\\.dead",
    }
    for alert, text in needed.items():
        assert text in exprs[alert], alert


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_expressions_use_only_contract_metrics(source: str) -> None:
    exprs = rule_exprs() if source == "rules" else dashboard_exprs()
    unknown = {name: sorted(metric_names(e) - METRICS.keys()) for name, e in exprs.items()}
    assert {k: v for k, v in unknown.items() if v} == {}


def test_histograms_are_read_through_their_buckets() -> None:
    for name, expr in {**rule_exprs(), **dashboard_exprs()}.items():
        for metric, kind in METRICS.items():
            if kind == "histogram" and metric in expr:
                assert f"{metric}_bucket" in expr or f"{metric}_count" in expr, name


def test_the_dashboard_shows_every_metric() -> None:
    shown = set().union(*(metric_names(e) for e in dashboard_exprs().values()))
    assert shown == METRICS.keys()


def _as_promql(expr: str) -> str:
    """Grafana's variables replaced by values PromQL parses."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    expr = expr.replace("$__range", "1h")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def test_dashboard_expressions_parse(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": _as_promql(e)}
                    for i, e in enumerate(exprs.values())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(exprs)} rules found" in promtool("check", "rules", str(path))


def test_dashboard_model() -> None:
    board = dashboard()
    assert board["uid"] == "eventwire" and board["schemaVersion"] >= 36
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    variables = {v["name"] for v in board["templating"]["list"]}
    used = set(re.findall(r"\$(\w+)", " ".join(dashboard_exprs().values())))
    assert used - {"__rate_interval"} <= variables
