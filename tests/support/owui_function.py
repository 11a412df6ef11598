"""The eventwire workers Function (``services/worker/openwebui/eventwire_workers.py``) loaded
as Open WebUI loads it (a module it never registers), and an in-process worker beside it."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from eventwire.settings import Settings
from eventwire_worker import Worker, load_plugins

FUNCTION = Path(__file__).parents[2] / "services" / "worker" / "openwebui" / "eventwire_workers.py"


def load_function() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eventwire_workers_function", FUNCTION)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {FUNCTION}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def function_on(settings: Settings) -> AsyncIterator[Any]:
    """The Function's ``Pipe`` with its valves on ``settings``' broker and namespace; its
    relay (started on first use) is closed after."""
    pipe = load_function().Pipe()
    pipe.valves = pipe.Valves(AMQP_URL=settings.amqp_url, NAMESPACE=settings.namespace)
    try:
        yield pipe
    finally:
        if pipe._relay is not None:
            await pipe._relay.close()


@asynccontextmanager
async def worker_on(settings: Settings, plugins: Path) -> AsyncIterator[Worker]:
    worker = Worker(settings, load_plugins(plugins))
    await worker.start()
    try:
        yield worker
    finally:
        await worker.close()
