"""The contract suites: each test body runs on every backend (memory:// and real RabbitMQ)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from eventwire.backends import open_bus
from eventwire.bus import Bus
from tests.support.cluster import AllSettings, delete_namespace, make_settings

OpenBus = Callable[[], Coroutine[Any, Any, Bus]]


@pytest.fixture
def bus_settings(bus_url: str) -> AllSettings:
    """The settings every bus of one test shares (one backend, one namespace)."""
    return make_settings(bus_url)


@pytest.fixture
async def buses(bus_settings: AllSettings) -> AsyncIterator[OpenBus]:
    """Opens started buses of one backend on one namespace (several = several processes)."""
    settings = bus_settings
    opened: list[Bus] = []

    async def open_one() -> Bus:
        bus = open_bus(settings)
        await bus.start()
        opened.append(bus)
        return bus

    try:
        yield open_one
    finally:
        for bus in reversed(opened):
            with contextlib.suppress(Exception):
                await bus.close()
        if not settings.uses_memory_bus:
            await delete_namespace(settings)


@pytest.fixture
async def bus(buses: OpenBus) -> Bus:
    return await buses()
