"""Fixtures of the deploy tests: one private RabbitMQ node on deploy/rabbitmq's files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import pytest

from tests.support.procs import Proc

from .rabbit import DeployRabbitNode

P = TypeVar("P", bound=Proc)


@pytest.fixture(scope="session")
def deploy_rabbit() -> Iterator[DeployRabbitNode]:
    node = DeployRabbitNode()
    try:
        node.start(timeout=60)
        yield node
    finally:
        node.kill()  # a throwaway node: no need to wait for a graceful stop
        node.cleanup()


class Owned:
    """Processes a test starts; each is stopped by PID at teardown, newest first."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: P) -> P:
        self.procs.append(proc)
        return proc

    async def close(self) -> None:
        for proc in reversed(self.procs):
            await proc.stop()


@pytest.fixture
async def owned() -> AsyncIterator[Owned]:
    o = Owned()
    try:
        yield o
    finally:
        await o.close()
