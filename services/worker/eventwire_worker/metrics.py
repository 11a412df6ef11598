"""The worker's small HTTP server: ``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``.

Liveness is answering at all (the handlers run on the worker's own event loop, so a blocked
loop fails it); readiness is 503 while the broker connection is down or the worker drains.
Metrics are read from the counters the worker and its SDK client keep, when scraped, in a
registry of the worker's own. ``EVENTWIRE_WORKER_METRICS_PORT``: 0 picks a free port (printed
in the ready line); unset-to-empty or negative turns the server off.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import Metric

from eventwire.prometheus import bus_families, client_families, counter, gauge, histogram, registry

if TYPE_CHECKING:
    from .worker import Worker


def worker_families(worker: Worker) -> list[Metric]:
    stats = worker.stats
    return [
        counter(
            "eventwire_jobs_total",
            "Jobs that ended on this worker, by outcome: ok, error (the plugin raised), "
            "cancelled (a user's stop), requeued (handed back on drain), dead_lettered "
            "(its workers died too often).",
            {
                "ok": stats.completed,
                "error": stats.failed,
                "cancelled": stats.stopped,
                "requeued": stats.handed_back,
                "dead_lettered": stats.abandoned,
            },
            "outcome",
        ),
        counter(
            "eventwire_events_in_total",
            "Messages this worker received from the bus, by kind (job, stop, list_models).",
            worker.messages_in,
            "kind",
        ),
        gauge("eventwire_jobs_running", "Jobs running on this worker now.", len(stats.running)),
        histogram(
            "eventwire_job_seconds",
            "How long runs took on this worker, whatever their outcome (seconds).",
            worker.job_seconds,
        ),
        counter(
            "eventwire_direct_events_total",
            "Events of relayed runs this worker sent straight to Open WebUI's tabs (Open WebUI "
            "on EventwireManager), by type; the others went through the relay.",
            worker.runner.tabs.stats.events,
            "type",
        ),
        counter(
            "eventwire_direct_calls_total",
            "__event_call__ calls this worker made straight to an Open WebUI tab, by outcome "
            "(ok, or the error code).",
            worker.runner.tabs.stats.calls,
            "outcome",
        ),
        *client_families(worker.client),
        *bus_families(worker.client.bus),
    ]


class MetricsServer:
    def __init__(self, worker: Worker, host: str, port: int) -> None:
        self.worker = worker
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(registry(self._families)))
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        sock = socket.create_server((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        await self._runner.cleanup()

    def _families(self) -> list[Metric]:
        return worker_families(self.worker)

    def _health(self) -> dict[str, Any]:
        return {
            "worker": self.worker.worker_id,
            "broker_connected": self.worker.client.bus.connected,
            "draining": self.worker.draining,
            "running": len(self.worker.stats.running),
        }

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **self._health()})

    async def _readyz(self, _request: web.Request) -> web.Response:
        body = self._health()
        if self.worker.ready:
            return web.json_response({"status": "ok", **body})
        return web.json_response({"status": "unavailable", **body}, status=503)
