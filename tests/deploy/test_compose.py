"""deploy/compose/compose.yaml: the Compose Specification's schema, and that its parts agree.

The schema is the compose-spec project's own (vendored in deploy/compose/schema/, Apache-2.0);
no Docker engine runs here, so what is checked beyond it is cross-references: files the
services mount or build from exist, the balancer, Prometheus and the brokers name the services
that exist, and the RabbitMQ cluster's node names are the containers' host names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from .contract import DEPLOY
from .rabbit import RABBIT_DIR, conf_settings

COMPOSE_DIR = DEPLOY / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
SCHEMA = COMPOSE_DIR / "schema" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_what_compose_rejects() -> None:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    bad = {"services": {"edge": {"image": "x", "ports": "8080", "restart_policy": "always"}}}
    messages = sorted(e.message for e in validator.iter_errors(bad))
    assert any("is not of type 'array'" in m for m in messages)
    assert any("restart_policy" in m for m in messages)


def _local(source: str) -> Path | None:
    """A bind mount's host path (relative to the compose file), or None for a named volume."""
    if source.startswith((".", "/")):
        return (COMPOSE_DIR / source).resolve()
    return None


def test_every_referenced_file_exists(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes", {}))
    for name, service in services(compose).items():
        build = service.get("build")
        if build is not None:
            context = (COMPOSE_DIR / build["context"]).resolve()
            assert context.is_dir(), f"{name}: build context {context}"
            assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            path = _local(source)
            if path is None:
                assert source in named, f"{name}: volume {source} is not declared"
            else:
                assert path.exists(), f"{name}: {source} does not exist"
        for env_file in service.get("env_file", []):
            assert (COMPOSE_DIR / env_file).is_file(), f"{name}: env_file {env_file}"
        for dependency in service.get("depends_on", []):
            assert dependency in services(compose), f"{name} depends on unknown {dependency}"


def test_the_parts_are_there(compose: dict[str, Any]) -> None:
    by_image = {name: str(s.get("image", "")) for name, s in services(compose).items()}
    rabbits = [n for n, image in by_image.items() if image.startswith("rabbitmq:3.10-management")]
    edges = [n for n, s in services(compose).items() if s.get("build", {}).get("target") == "edge"]
    workers = [
        n for n, s in services(compose).items() if s.get("build", {}).get("target") == "worker"
    ]
    assert len(rabbits) == 3 and len(edges) == 2 and len(workers) == 2
    assert any(image.startswith("haproxy:") for image in by_image.values())
    assert any(image.startswith("prom/prometheus:") for image in by_image.values())
    assert any(image.startswith("grafana/grafana:") for image in by_image.values())
    for image in by_image.values():
        assert ":" in image and not image.endswith(":latest"), image


def test_the_rabbitmq_nodes_form_the_cluster_the_conf_names(compose: dict[str, Any]) -> None:
    settings = conf_settings((RABBIT_DIR / "rabbitmq.conf").read_text())
    nodes = {v for k, v in settings.items() if k.startswith("cluster_formation.classic_config.")}
    rabbits = {n: s for n, s in services(compose).items() if "rabbitmq" in str(s.get("image"))}
    assert nodes == {f"rabbit@{s['hostname']}" for s in rabbits.values()}
    cookies = {s["environment"]["RABBITMQ_ERLANG_COOKIE"] for s in rabbits.values()}
    assert len(cookies) == 1  # one cluster, one cookie
    for service in rabbits.values():
        mounts = {v.split(":")[1] for v in service["volumes"]}
        assert {"/etc/rabbitmq/rabbitmq.conf", "/etc/rabbitmq/definitions.json"} <= mounts
        assert "/etc/rabbitmq/enabled_plugins" in mounts
    assert settings["load_definitions"] == "/etc/rabbitmq/definitions.json"


def test_every_process_gets_every_broker(compose: dict[str, Any]) -> None:
    rabbit_hosts = {
        s["hostname"] for s in services(compose).values() if "rabbitmq" in str(s.get("image"))
    }
    for name, service in services(compose).items():
        if "build" not in service:
            continue
        env = service["environment"]
        urls = [urlsplit(u) for u in env["AMQP_URL"].split(",")]
        assert {u.hostname for u in urls} == rabbit_hosts, name
        assert {u.path for u in urls} == {"/eventwire"}, name  # the definitions' vhost
        assert env["WEBUI_SECRET_KEY"].startswith("${WEBUI_SECRET_KEY:?"), name  # no default


def test_haproxy_and_prometheus_point_at_the_services(compose: dict[str, Any]) -> None:
    svc = services(compose)
    edges = {n for n, s in svc.items() if s.get("build", {}).get("target") == "edge"}
    workers = {n for n, s in svc.items() if s.get("build", {}).get("target") == "worker"}
    haproxy = next(s for s in svc.values() if str(s.get("image")).startswith("haproxy:"))
    cfg = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    env_vars = set(re.findall(r'^\s*server \w+ "\$\{(\w+)-', cfg, re.M))
    assert env_vars == set(haproxy["environment"])
    assert {v.split(":")[0] for v in haproxy["environment"].values()} == edges

    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}

    def targets(job: str) -> set[str]:
        return {t for sc in jobs[job]["static_configs"] for t in sc["targets"]}

    for job, names, port in (
        ("eventwire-edge", edges, "8080"),
        ("eventwire-worker", workers, "9100"),
    ):
        assert targets(job) == {f"{n}:{port}" for n in names}
        for name in names:
            assert port in svc[name]["expose"]
    rabbits = {s["hostname"] for s in svc.values() if "rabbitmq" in str(s.get("image"))}
    assert targets("rabbitmq") == targets("rabbitmq-queues") == {f"{h}:15692" for h in rabbits}
    assert targets("haproxy") == {f"{n}:8404" for n, s in svc.items() if s is haproxy}


def test_grafana_is_provisioned_with_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = next(s for s in services(compose).values() if "grafana" in str(s.get("image")))
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    provisioning = _local(next(k for k, v in mounts.items() if v == "/etc/grafana/provisioning"))
    assert provisioning is not None
    providers = yaml.safe_load((provisioning / "dashboards" / "eventwire.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    dashboards = _local(next(k for k, v in mounts.items() if v == path))
    assert dashboards is not None and (dashboards / "eventwire.json").is_file()
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    url = urlsplit(datasources["datasources"][0]["url"])
    assert url.hostname in services(compose) and url.port == 9090
