"""deploy/rabbitmq: the definitions, loaded at boot by a private node running deploy's files.

The node (tests/deploy/rabbit.py) boots on deploy/rabbitmq/rabbitmq.conf and enabled_plugins
(management, prometheus) with ``load_definitions`` pointing at a copy of definitions.json; the
checks read it back through rabbitmqctl and the management API, run a real worker as the
definitions' application user, and read the prometheus plugin's output for the RabbitMQ
metrics the alerts and the dashboard use.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import aiormq
import pytest
import yaml

from eventwire.topology import Topology
from tests.support.cluster import SECRET
from tests.support.procs import WorkerProc
from tests.support.tabs import eventually

from .conftest import Owned
from .contract import DEPLOY, rabbitmq_metric_names
from .rabbit import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    APP_USER,
    RABBIT_DIR,
    VHOST,
    DeployRabbitNode,
)

DEFINITIONS: dict[str, Any] = json.loads((RABBIT_DIR / "definitions.json").read_text())
TOPOLOGY = Topology(VHOST)  # the namespace the deployment uses is the vhost's name
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def policy(name: str) -> dict[str, Any]:
    return next(p for p in DEFINITIONS["policies"] if p["name"] == name)


def test_definitions_declare_vhost_users_permissions_policies() -> None:
    assert [v["name"] for v in DEFINITIONS["vhosts"]] == [VHOST]
    users = {u["name"]: u for u in DEFINITIONS["users"]}
    assert users[APP_USER]["tags"] == []  # the processes need no management rights
    assert "administrator" in users[ADMIN_USER]["tags"]
    for user in users.values():
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert "password" not in user  # hashes only
    grants = {(p["user"], p["vhost"]) for p in DEFINITIONS["permissions"]}
    assert (APP_USER, VHOST) in grants
    assert {p["vhost"] for p in DEFINITIONS["policies"]} == {VHOST}


def test_permissions_and_policies_match_the_topology_names() -> None:
    app = next(p for p in DEFINITIONS["permissions"] if p["user"] == APP_USER)
    ours = [
        TOPOLOGY.events.name,
        TOPOLOGY.jobs.name,
        TOPOLOGY.dead_jobs.name,
        TOPOLOGY.node_queue("n1", 15).name,
        TOPOLOGY.reply_queue("h-1-x").name,
        TOPOLOGY.presence_queue("p").name,
        TOPOLOGY.worker_queue("w").name,
    ]
    for name in ours:
        for access in ("configure", "read", "write"):
            assert re.match(app[access], name), (access, name)
    assert re.match(app["write"], "amq.default")  # replies and jobs go by the default exchange
    for access in ("configure", "read", "write"):
        assert not re.match(app[access], "other.queue"), access

    def covered(name: str) -> set[str]:
        return {p["name"] for p in DEFINITIONS["policies"] if re.match(p["pattern"], name)}

    assert covered(TOPOLOGY.jobs.name) == {"eventwire-jobs"}
    assert covered(TOPOLOGY.dead_jobs.name) == {"eventwire-dead-jobs"}
    assert covered(TOPOLOGY.node_queue("n1", 15).name) == set()
    # Arguments the code declares take precedence over a policy: none is repeated here.
    for key in policy("eventwire-jobs")["definition"]:
        assert f"x-{key}" not in TOPOLOGY.jobs.arguments


def ctl_table(node: DeployRabbitNode, *args: str) -> list[list[str]]:
    result = node.ctl(*args, "--quiet", "--no-table-headers")
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines() if line.strip()]


def test_the_node_loaded_the_definitions(deploy_rabbit: DeployRabbitNode) -> None:
    assert ctl_table(deploy_rabbit, "list_vhosts") == [[VHOST]]  # no default `/` either
    users = {row[0] for row in ctl_table(deploy_rabbit, "list_users")}
    assert users == {APP_USER, ADMIN_USER}  # with definitions at boot, no guest is created
    permissions = {
        row[0]: row[1:] for row in ctl_table(deploy_rabbit, "list_permissions", "-p", VHOST)
    }
    app = next(p for p in DEFINITIONS["permissions"] if p["user"] == APP_USER)
    assert permissions[APP_USER] == [app["configure"], app["write"], app["read"]]
    policies = {row[1] for row in ctl_table(deploy_rabbit, "list_policies", "-p", VHOST)}
    assert policies == {p["name"] for p in DEFINITIONS["policies"]}


async def management(node: DeployRabbitNode, path: str) -> Any:
    credentials = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    url = f"{node.management_url}/api/{path}"
    async with aiohttp.ClientSession(headers=headers) as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_the_management_api_answers_the_admin(deploy_rabbit: DeployRabbitNode) -> None:
    whoami = await management(deploy_rabbit, "whoami")
    assert whoami["name"] == ADMIN_USER
    policies = await management(deploy_rabbit, f"policies/{VHOST}")
    assert {p["name"]: p["definition"] for p in policies} == {
        p["name"]: p["definition"] for p in DEFINITIONS["policies"]
    }


async def test_the_application_user_is_confined_to_its_names(
    deploy_rabbit: DeployRabbitNode,
) -> None:
    connection = await aio_pika.connect(deploy_rabbit.app_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(f"{VHOST}.deploy-test", auto_delete=True)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await channel.declare_queue("other.queue", auto_delete=True)


async def test_a_worker_runs_as_the_application_user(
    deploy_rabbit: DeployRabbitNode, owned: Owned
) -> None:
    env = {
        "AMQP_URL": deploy_rabbit.app_url,
        "WEBUI_SECRET_KEY": SECRET,
        "EVENTWIRE_NAMESPACE": VHOST,
        "EVENTWIRE_PLUGINS_DIR": str(PLUGINS),
        "EVENTWIRE_LOG_LEVEL": "WARNING",
    }
    await owned.add(WorkerProc(env)).start()  # declares the job queues as the worker does

    # rabbitmqctl reads the queues themselves (the management API's copy lags by seconds).
    rows = ctl_table(deploy_rabbit, "list_queues", "-p", VHOST, "name", "type", "policy")
    queues = {name: (kind, applied) for name, kind, applied in rows}
    assert queues[TOPOLOGY.jobs.name] == ("quorum", "eventwire-jobs")
    assert queues[TOPOLOGY.dead_jobs.name][1] == "eventwire-dead-jobs"

    # The prometheus plugin's per-queue family, as Prometheus scrapes it (prometheus.yml).
    url = f"{deploy_rabbit.prometheus_url}/metrics/detailed"
    params = {"vhost": VHOST, "family": "queue_coarse_metrics"}

    async def scraped() -> str:
        async with aiohttp.ClientSession() as http, http.get(url, params=params) as response:
            text = await response.text()
        return text if f'queue="{TOPOLOGY.dead_jobs.name}"' in text else ""

    exposition = await eventually(scraped)
    exposed = set(re.findall(r"^(rabbitmq_\w+)\{", exposition, re.M))
    assert used_rabbitmq_metrics() <= exposed


def used_rabbitmq_metrics() -> set[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    board = json.loads((DEPLOY / "grafana" / "dashboards" / "eventwire.json").read_text())
    exprs += [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = set().union(*(rabbitmq_metric_names(e) for e in exprs))
    assert used  # the jobs alerts read RabbitMQ's queue depth
    return used
