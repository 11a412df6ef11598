"""``eventwire worker``: load plugins, take jobs until SIGTERM, then drain."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from eventwire.logs import set_process_node
from eventwire.settings import refuse_default_secret
from eventwire.signals import wait_for_signal

from .plugins import load_plugins
from .settings import WorkerSettings
from .threads import ThreadUse
from .worker import Worker

if TYPE_CHECKING:
    from .metrics import MetricsServer

log = logging.getLogger(__name__)

# The bundled example plugins, installed as package data (the default plugin directory).
EXAMPLES = Path(__file__).resolve().parent / "examples"


def plugin_dir(settings: WorkerSettings) -> Path:
    return Path(settings.plugins_dir) if settings.plugins_dir else EXAMPLES


def build_worker(settings: WorkerSettings) -> Worker:
    directory = plugin_dir(settings)
    # load_plugins logs each file that did not load, once; runs of it tell the user why.
    registry = load_plugins(directory, install_requirements=settings.install_requirements)
    return Worker(settings, registry)


async def serve_worker(settings: WorkerSettings) -> None:
    refuse_default_secret(settings, what="the worker")  # it mints tokens with it
    worker = build_worker(settings)
    set_process_node(worker.worker_id)
    await worker.start()
    metrics = await start_metrics(worker, settings)
    ready = f" metrics={metrics.url}" if metrics is not None else ""
    print(f"eventwire worker ready id={worker.worker_id}{ready}", flush=True)  # noqa: T201
    try:
        await wait_for_signal()
    finally:
        await worker.drain()
        if worker.stuck:
            # Their threads cannot be stopped and the grace is over. Exiting first, without
            # closing the connection, means the broker hands the jobs back only when this
            # process (and the code) is gone: they never run twice at once.
            log.warning(
                "exiting with %d jobs still running in threads after the %gs grace (%s); "
                "the broker hands them to another worker",
                len(worker.stuck),
                settings.drain_grace,
                ", ".join(worker.stuck),
            )
            exit_now()
        await worker.close()
        if metrics is not None:
            await metrics.close()
        if ThreadUse.running():  # e.g. a stopped run's thread: interpreter exit would wait
            log.warning("exiting while plugin code still runs in %d threads", ThreadUse.running())
            exit_now()


def exit_now() -> NoReturn:
    """End the process, threads and all (they cannot be stopped; the process can)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def start_metrics(worker: Worker, settings: WorkerSettings) -> MetricsServer | None:
    if settings.worker_metrics_port is None:
        return None
    from .metrics import MetricsServer  # aiohttp, prometheus-client: only when it is on

    server = MetricsServer(worker, settings.worker_metrics_host, settings.worker_metrics_port)
    await server.start()
    return server
