"""deploy/k8s: rendered by kustomize, validated against the Kubernetes schemas, cross-checked.

Schemas: PyPI's kubernetes-validate (it ships the JSON schemas of every Kubernetes release, so
this runs offline), strict mode (unknown fields fail), for KUBERNETES_VERSION. The custom
resources (RabbitmqCluster, ServiceMonitor, PrometheusRule) have no schema there: they are
skipped by kind and checked for shape. Then what a schema cannot see: selectors that select,
references that resolve, probes, non-root pods, grace that covers the drain, autoscaling on
contract metrics.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from .contract import DEPLOY, METRICS, metric_names, tool

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30"
CUSTOM_KINDS = {
    "RabbitmqCluster": "rabbitmq.com/v1beta1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}

Doc = dict[str, Any]


def render(path: str) -> list[Doc]:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S / path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def example() -> list[Doc]:
    return render("overlays/example")


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def containers(deployment: Doc) -> list[Doc]:
    result: list[Doc] = deployment["spec"]["template"]["spec"]["containers"]
    return result


def config(docs: list[Doc]) -> dict[str, str]:
    maps = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("eventwire")]
    assert len(maps) == 1
    data: dict[str, str] = maps[0]["data"]
    return data


@pytest.mark.parametrize("path", ["base", "overlays/example"])
def test_every_document_validates(path: str) -> None:
    docs = render(path)
    validated = set()
    for doc in docs:
        kind = doc["kind"]
        if kind in CUSTOM_KINDS:
            assert doc["apiVersion"] == CUSTOM_KINDS[kind]
            assert doc["metadata"]["name"] and isinstance(doc["spec"], dict)
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.path))
            pytest.fail(f"{kind}/{doc['metadata']['name']}: {where}: {exc.message}")
        validated.add(kind)
    assert {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler"} <= validated
    assert {"PodDisruptionBudget", "ConfigMap"} <= validated


def test_the_validator_catches_a_mistake(example: list[Doc]) -> None:
    edge = json.loads(json.dumps(named(example, "Deployment", "eventwire-edge")))
    containers(edge)[0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(edge, KUBERNETES_VERSION, strict=True)


def test_the_example_overrides_replicas_images_and_host(example: list[Doc]) -> None:
    edge = named(example, "Deployment", "eventwire-edge")
    worker = named(example, "Deployment", "eventwire-worker")
    assert edge["spec"]["replicas"] == 3 and worker["spec"]["replicas"] == 4
    assert containers(edge)[0]["image"] == "registry.example.com/eventwire/edge:0.1.0"
    assert containers(worker)[0]["image"] == "registry.example.com/eventwire/worker:0.1.0"
    ingress = named(example, "Ingress", "eventwire")
    assert ingress["spec"]["rules"][0]["host"] == "chat.example.org"
    assert ingress["spec"]["tls"][0]["hosts"] == ["chat.example.org"]
    assert {d["metadata"].get("namespace") for d in example if d["kind"] != "Namespace"} == {
        "eventwire"
    }
    for hpa in of_kind(example, "HorizontalPodAutoscaler"):
        target = named(example, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert (
            hpa["spec"]["minReplicas"] <= target["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
        )


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pod_labels(docs: list[Doc]) -> Iterator[tuple[str, dict[str, str]]]:
    for deployment in of_kind(docs, "Deployment"):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]["metadata"]["labels"]


def test_selectors_select_exactly_one_deployment(example: list[Doc]) -> None:
    selectors = [
        (f"Service/{s['metadata']['name']}", s["spec"]["selector"])
        for s in of_kind(example, "Service")
    ]
    selectors += [
        (f"PodDisruptionBudget/{p['metadata']['name']}", p["spec"]["selector"]["matchLabels"])
        for p in of_kind(example, "PodDisruptionBudget")
    ]
    selectors += [
        (f"Deployment/{d['metadata']['name']}", d["spec"]["selector"]["matchLabels"])
        for d in of_kind(example, "Deployment")
    ]
    for what, selector in selectors:
        matched = [name for name, labels in pod_labels(example) if _selects(selector, labels)]
        assert len(matched) == 1, f"{what} selects {matched}"
        assert what.split("/")[1] == matched[0], what  # same name as what it selects


def test_pods_refer_to_what_exists(example: list[Doc]) -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in example}
    for deployment in of_kind(example, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        assert ("ServiceAccount", spec["serviceAccountName"]) in names
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in names
            refs = [v["valueFrom"]["secretKeyRef"] for v in container["env"] if "valueFrom" in v]
            for ref in refs:
                assert ref["key"] in named(example, "Secret", ref["name"])["data"], ref
            ports = {p["name"] for p in container["ports"]}
            probes = [container.get(p) for p in ("readinessProbe", "livenessProbe", "startupProbe")]
            assert {p["httpGet"]["port"] for p in probes if p} <= ports


def test_routes_and_scalers_refer_to_what_exists(example: list[Doc]) -> None:
    for ingress in of_kind(example, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = named(example, "Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    for hpa in of_kind(example, "HorizontalPodAutoscaler"):
        named(example, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    for monitor in of_kind(example, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        if selector.get("app.kubernetes.io/name") == "eventwire-rabbitmq":
            continue  # the operator's Service, not rendered here
        services = [
            s for s in of_kind(example, "Service") if _selects(selector, s["metadata"]["labels"])
        ]
        assert len(services) == 1, monitor["metadata"]["name"]
        ports = {p["name"] for p in services[0]["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


def test_pods_run_non_root_with_probes_and_resources(example: list[Doc]) -> None:
    for deployment in of_kind(example, "Deployment"):
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert security["readOnlyRootFilesystem"] is True, name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
            assert "memory" in container["resources"]["limits"], name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
    edge = containers(named(example, "Deployment", "eventwire-edge"))[0]
    assert edge["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_grace_covers_the_drain(example: list[Doc]) -> None:
    drain = float(config(example)["EVENTWIRE_DRAIN_GRACE"])
    for deployment in of_kind(example, "Deployment"):
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= drain + 10, deployment["metadata"]["name"]


def test_autoscaling_uses_contract_metrics(example: list[Doc]) -> None:
    def pod_metrics(name: str) -> set[str]:
        hpa = named(example, "HorizontalPodAutoscaler", name)
        return {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}

    assert pod_metrics("eventwire-edge") == {"eventwire_connections"}
    assert pod_metrics("eventwire-worker") == {"eventwire_jobs_running"}
    adapter = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text())
    served = {rule["name"]["as"] for rule in adapter["rules"]["custom"]}
    assert served == {"eventwire_connections", "eventwire_jobs_running"}
    for rule in adapter["rules"]["custom"]:
        assert metric_names(rule["seriesQuery"]) <= METRICS.keys()
    for name in served:
        assert METRICS[name] == "gauge"


def test_ingress_keeps_websockets_open(example: list[Doc]) -> None:
    annotations = named(example, "Ingress", "eventwire")["metadata"]["annotations"]
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= 3600
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"  # long-polling


def test_rabbitmq_cluster_loads_the_definitions(example: list[Doc]) -> None:
    cluster = named(example, "RabbitmqCluster", "eventwire-rabbitmq")
    assert cluster["spec"]["replicas"] == 3
    assert (
        "load_definitions = /etc/rabbitmq/definitions/definitions.json"
        in (cluster["spec"]["rabbitmq"]["additionalConfig"])
    )
    pod = cluster["spec"]["override"]["statefulSet"]["spec"]["template"]["spec"]
    secret = named(example, "Secret", pod["volumes"][0]["secret"]["secretName"])
    assert "definitions.json" in secret["data"]
    copy = (K8S / "base" / "rabbitmq" / "definitions.json").read_text()
    assert copy == (DEPLOY / "rabbitmq" / "definitions.json").read_text()
    secrets = [d for d in of_kind(example, "Secret") if "AMQP_URL" in d.get("data", {})]
    url = urlsplit(base64.b64decode(secrets[0]["data"]["AMQP_URL"]).decode())
    assert url.hostname is not None and url.hostname.split(".")[0] == "eventwire-rabbitmq"
    assert url.path == "/eventwire"  # the definitions' vhost


def test_prometheus_rule_is_rules_yml(example: list[Doc]) -> None:
    rule = named(example, "PrometheusRule", "eventwire")
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    assert rule["spec"] == rules
