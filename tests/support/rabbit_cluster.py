"""A private, throwaway RabbitMQ cluster of three nodes on loopback, for node-loss tests.

Each node is a ``RabbitNode`` (own name, ports, data directory, never the shared broker); they
share one Erlang cookie of their own, so they can cluster with each other and with nothing
else. The nodes boot in parallel, then the others ``join_cluster`` the first::

    with RabbitCluster() as cluster:
        ...  # AMQP_URL=cluster.url (every node's URL, comma-separated)
        cluster.nodes[0].kill()  # SIGKILL one node: the other two keep a quorum

Every OS process of every node is killed by PID at cleanup (the nodes' data is throwaway).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from .rabbit_node import RabbitNode, RabbitNodeError, StartedContext

__all__ = ["RabbitCluster"]


class RabbitCluster(StartedContext):
    def __init__(self, size: int = 3, prefix: str = "ewcluster") -> None:
        cookie = secrets.token_hex(16).upper()
        self.nodes = [RabbitNode(prefix=f"{prefix}{i}", cookie=cookie) for i in range(size)]
        self.start_seconds = 0.0  # how long start() took (boot and join), for reports

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """``AMQP_URL`` for a process that should try every node, first to last."""
        return ",".join(self.urls)

    def start(self, timeout: float = 60) -> None:
        began = time.monotonic()
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.start(timeout), self.nodes))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            for args in (("stop_app",), ("join_cluster", first.name), ("start_app",)):
                result = node.ctl(*args, timeout=timeout)
                if result.returncode != 0:
                    raise RabbitNodeError(
                        f"{node.name}: rabbitmqctl {' '.join(args)} failed:\n"
                        f"{result.stdout}{result.stderr}"
                    )
        self.await_members(len(self.nodes), timeout)
        self.start_seconds = time.monotonic() - began

    def running_members(self, via: RabbitNode | None = None) -> list[str]:
        """Node names the cluster reports as running (asked of ``via``, else the first up)."""
        node = via or next(n for n in self.nodes if n.running())
        result = node.ctl("eval", "rabbit_nodes:all_running().", timeout=30)
        if result.returncode != 0:
            return []
        text = result.stdout.strip().strip("[]")
        return [name.strip().strip("'") for name in text.split(",") if name.strip()]

    def await_members(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(members := self.running_members()) < count:
            if time.monotonic() > deadline:
                raise RabbitNodeError(f"cluster has {members}, wanted {count} running nodes")
            time.sleep(0.2)

    def cleanup(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.kill()  # throwaway data: no need for a graceful stop
            node.cleanup()
