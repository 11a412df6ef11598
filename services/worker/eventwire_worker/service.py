"""``eventwire worker``: load plugins, take jobs until SIGTERM, then drain."""

from __future__ import annotations

import logging
from pathlib import Path

from eventwire.errors import ConfigurationError
from eventwire.settings import Settings
from eventwire.signals import wait_for_signal

from .plugins import load_plugins
from .worker import Worker

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def plugin_dir(settings: Settings) -> Path:
    if settings.plugins_dir:
        return Path(settings.plugins_dir)
    if EXAMPLES.is_dir():
        return EXAMPLES
    raise ConfigurationError("no plugin directory: pass --plugins DIR or set EVENTWIRE_PLUGINS_DIR")


def build_worker(settings: Settings) -> Worker:
    directory = plugin_dir(settings)
    registry = load_plugins(directory, install_requirements=settings.install_requirements)
    for name, error in registry.errors.items():
        log.error("skipped %s: %s", name, error)
    return Worker(settings, registry)


async def serve_worker(settings: Settings) -> None:
    worker = build_worker(settings)
    await worker.start()
    print(f"eventwire worker ready id={worker.worker_id}", flush=True)  # noqa: T201
    try:
        await wait_for_signal()
    finally:
        await worker.drain()
        await worker.close()
