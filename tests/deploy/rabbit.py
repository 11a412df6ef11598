"""A private RabbitMQ node booted on deploy/rabbitmq's own files.

The node is ``tests.support.rabbit_node.RabbitNode`` (private name, ports, cookie and data
directory); only what must differ on a shared test machine is rewritten: its listeners and
ports, the cluster's node names (one node here, standing for the compose cluster), and the
definitions path (a copy the node's user can read). Every other key of
``deploy/rabbitmq/rabbitmq.conf`` is booted as written, so a key RabbitMQ does not know fails
the boot, and ``enabled_plugins`` is used as is (management and prometheus).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

from tests.support.rabbit_node import RabbitNode

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RABBIT_DIR = DEPLOY / "rabbitmq"
APP_USER, APP_PASSWORD, VHOST = "eventwire", "eventwire", "eventwire"
ADMIN_USER, ADMIN_PASSWORD = "admin", "eventwire-admin"

_SETTING = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*=\s*(.*?)\s*$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def conf_settings(text: str) -> dict[str, str]:
    """``key = value`` lines of a rabbitmq.conf (new-style, sysctl format)."""
    pairs = (
        _SETTING.match(line) for line in text.splitlines() if not line.lstrip().startswith("#")
    )
    return {m.group(1): m.group(2) for m in pairs if m}


def render_conf(text: str, overrides: dict[str, str | None]) -> str:
    """The deploy conf with ``overrides`` applied (``None`` drops a key; new keys are added)."""
    out: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        match = _SETTING.match(line)
        if match is None or line.lstrip().startswith("#") or match.group(1) not in overrides:
            out.append(line)
            continue
        key = match.group(1)
        seen.add(key)
        if overrides[key] is not None:
            out.append(f"{key} = {overrides[key]}")
    out += [f"{k} = {v}" for k, v in overrides.items() if k not in seen and v is not None]
    return "\n".join(out) + "\n"


class DeployRabbitNode(RabbitNode):
    """A private node configured from deploy/rabbitmq (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(prefix="ewdeploy")
        self.management_port = _free_port()
        self.prometheus_port = _free_port()
        self.app_url = f"amqp://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{self.port}/{VHOST}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    def _prepare(self) -> None:
        # RabbitNode writes its private files and hands them to the node's user; the files
        # below are rewritten in place, so they keep that owner.
        super()._prepare()
        definitions = self.base_dir / "definitions.json"
        shutil.copyfile(RABBIT_DIR / "definitions.json", definitions)
        conf = self.base_dir / "rabbitmq.conf"
        deploy_conf = (RABBIT_DIR / "rabbitmq.conf").read_text()
        nodes = [
            k
            for k in conf_settings(deploy_conf)
            if k.startswith("cluster_formation.classic_config.nodes.")
        ]
        overrides: dict[str, str | None] = {
            "listeners.tcp.default": None,  # 5672 is the shared broker's
            "management.tcp.port": str(self.management_port),
            "management.tcp.ip": "127.0.0.1",
            "prometheus.tcp.port": str(self.prometheus_port),
            "prometheus.tcp.ip": "127.0.0.1",
            "load_definitions": str(definitions),
            **{key: None for key in nodes},
            "cluster_formation.classic_config.nodes.1": self.name,
        }
        conf.write_text(conf.read_text() + render_conf(deploy_conf, overrides))
        (self.base_dir / "enabled_plugins").write_text((RABBIT_DIR / "enabled_plugins").read_text())
        owner = os.stat(conf)
        os.chown(definitions, owner.st_uid, owner.st_gid)
