"""Every conformance body runs on eventwire's manager and on python-socketio's references.

Where a reference cannot do what a body asks (``limits.KNOWN_LIMITS``), its run is marked
``xfail(strict=True)`` with the exception that shows the limit: the run must fail that
way, and passing would fail the suite (the table is then out of date). Nothing is skipped.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import pytest
from yarl import URL

from tests.support.sio import Cluster

from .flavors import AioPikaFlavor, EventwireFlavor, Flavor, RedisFlavor
from .limits import KNOWN_LIMITS

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    parsed = URL(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 6379), 2):
            return url
    except OSError:
        pytest.fail(
            f"no Redis answers at {url}: start one or set REDIS_URL (the conformance suite "
            "runs python-socketio's AsyncRedisManager as a reference; it never skips).",
            pytrace=False,
        )


@pytest.fixture(params=["eventwire", "aiopika", "redis"])
def flavor(request: pytest.FixtureRequest) -> Flavor:
    name: str = request.param
    limit = KNOWN_LIMITS.get((name, request.node.originalname))
    if limit is not None:
        request.applymarker(pytest.mark.xfail(strict=True, raises=limit.raises, reason=limit.why))
    if name == "redis":
        return RedisFlavor(request.getfixturevalue("redis_url"))
    amqp_url: str = request.getfixturevalue("amqp_url")
    return EventwireFlavor(amqp_url) if name == "eventwire" else AioPikaFlavor(amqp_url)


@pytest.fixture
async def cluster(flavor: Flavor) -> AsyncIterator[Cluster]:
    c = Cluster(flavor)
    try:
        yield c
    finally:
        await c.close()
