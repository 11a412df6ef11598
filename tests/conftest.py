"""Shared fixtures: the real broker (never skipped), and buses to run shared test bodies on."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from yarl import URL

from eventwire.settings import DEFAULT_AMQP_URL
from tests.support.cluster import Cluster, make_settings


def _answers(url: str) -> bool:
    parsed = URL(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5672), 2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """The real RabbitMQ: ``AMQP_URL``, else testcontainers where Docker runs, else a failure."""
    url = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
    if _answers(url):
        yield url
        return
    if shutil.which("docker") and _docker_engine_runs():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.10") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(5672)
            yield f"amqp://guest:guest@{host}:{port}/"
        return
    pytest.fail(
        f"no RabbitMQ answers at {url} and no Docker engine runs: start one "
        "(rabbitmq-server -detached) or set AMQP_URL. Broker tests never skip.",
        pytrace=False,
    )


def _docker_engine_runs() -> bool:
    return os.path.exists("/var/run/docker.sock") or bool(os.environ.get("DOCKER_HOST"))


@pytest.fixture(params=["memory", "amqp"])
def bus_url(request: pytest.FixtureRequest) -> str:
    """Run a test body against the in-process bus and against the real broker."""
    if request.param == "memory":
        return f"memory://{uuid.uuid4().hex}"
    return str(request.getfixturevalue("amqp_url"))


@pytest.fixture
async def cluster(bus_url: str) -> AsyncIterator[Cluster]:
    c = Cluster(make_settings(bus_url))
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def amqp_cluster(amqp_url: str) -> AsyncIterator[Cluster]:
    c = Cluster(make_settings(amqp_url))
    try:
        yield c
    finally:
        await c.close()
