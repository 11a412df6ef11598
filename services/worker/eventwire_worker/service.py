"""``eventwire worker``: load plugins, take jobs until SIGTERM, then drain."""

from __future__ import annotations

import logging
from pathlib import Path

from eventwire.settings import refuse_default_secret
from eventwire.signals import wait_for_signal

from .plugins import load_plugins
from .settings import WorkerSettings
from .worker import Worker

log = logging.getLogger(__name__)

# The bundled example plugins, installed as package data (the default plugin directory).
EXAMPLES = Path(__file__).resolve().parent / "examples"


def plugin_dir(settings: WorkerSettings) -> Path:
    return Path(settings.plugins_dir) if settings.plugins_dir else EXAMPLES


def build_worker(settings: WorkerSettings) -> Worker:
    directory = plugin_dir(settings)
    registry = load_plugins(directory, install_requirements=settings.install_requirements)
    for name, error in registry.errors.items():
        log.error("skipped %s: %s", name, error)
    return Worker(settings, registry)


async def serve_worker(settings: WorkerSettings) -> None:
    refuse_default_secret(settings, what="the worker")  # it mints tokens with it
    worker = build_worker(settings)
    await worker.start()
    print(f"eventwire worker ready id={worker.worker_id}", flush=True)  # noqa: T201
    try:
        await wait_for_signal()
    finally:
        await worker.drain()
        await worker.close()
