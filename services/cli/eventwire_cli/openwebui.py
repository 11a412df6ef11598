"""``eventwire openwebui``: Open WebUI 0.12.4, unchanged, with its Socket.IO server on eventwire.

Open WebUI scales its Socket.IO server across replicas with a python-socketio client manager on
Redis. This launcher does what ``open-webui serve`` does, with one difference: before Open WebUI
serves, its ``sio`` server gets ``EventwireManager`` as client manager, so emits, calls and
room operations between replicas (and from eventwire workers) are routed by RabbitMQ. No file
of Open WebUI changes; the notes on why each step is safe are in the README section "Open WebUI
replicas on eventwire".

It runs in the Python that has Open WebUI installed (``make openwebui-venv`` for a checkout),
where the eventwire SDK and the edge's python-socketio manager are installed beside it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from eventwire.settings import Settings

log = logging.getLogger(__name__)

TESTED_VERSION = "0.12.4"
INSTALL_HINT = (
    "Open WebUI is not installed in this Python: run `make openwebui-venv` in an eventwire "
    "checkout and use `.venv-openwebui/bin/eventwire openwebui`, or "
    f"`pip install open-webui=={TESTED_VERSION}` beside eventwire"
)

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


class LaunchRefused(Exception):
    """The environment cannot run Open WebUI replicas on eventwire; the message says why."""


def check_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What the launcher sets before Open WebUI reads its environment, or why it refuses.

    - ``WEBSOCKET_MANAGER`` must be ``redis`` (the default here): in that mode Open WebUI keeps
      its session pool, usage pool, models and Yjs documents on Redis, which a replica needs
      to serve a call for a socket held by another replica; its lifespan also initializes the
      manager, so a replica that holds no socket still listens.
    - ``REDIS_URL`` (or ``WEBSOCKET_REDIS_URL``): that Redis, shared by the replicas.
    - ``WEBUI_SECRET_KEY``: the same on every replica (``serve`` would write a per-directory
      key file, and tokens signed by one replica would fail on the next).
    - ``UVICORN_WORKERS`` 1: uvicorn's worker processes re-import Open WebUI and would run on
      its Redis manager; scale with replicas instead.
    """
    manager = env.get("WEBSOCKET_MANAGER", "").strip().lower() or "redis"
    if manager != "redis":
        raise LaunchRefused(
            f"WEBSOCKET_MANAGER={env['WEBSOCKET_MANAGER']!r}: replicas on eventwire need Open "
            "WebUI's multi-replica mode (WEBSOCKET_MANAGER=redis, the default here): its session "
            "pools and task registry live on Redis"
        )
    if not (env.get("REDIS_URL") or env.get("WEBSOCKET_REDIS_URL")):
        raise LaunchRefused(
            "REDIS_URL is not set: Open WebUI's session pools, Yjs documents, task registry and "
            "Stop commands stay on Redis (one Redis shared by every replica)"
        )
    if not env.get("WEBUI_SECRET_KEY"):
        raise LaunchRefused(
            "WEBUI_SECRET_KEY is not set: every replica must sign and check tokens with the "
            "same key"
        )
    workers = env.get("UVICORN_WORKERS", "1").strip() or "1"
    if workers != "1":
        raise LaunchRefused(
            f"UVICORN_WORKERS={workers}: one worker per replica (uvicorn's workers re-import "
            "Open WebUI without eventwire's manager); run more replicas instead"
        )
    # `open-webui serve` sets FROM_INIT_PY before importing Open WebUI: its config.py looks
    # for the packaged frontend only then.
    return {"WEBSOCKET_MANAGER": "redis", "FROM_INIT_PY": "true"}


def openwebui_version() -> str:
    """The installed Open WebUI's version; ``LaunchRefused`` naming the fix when absent."""
    if importlib.util.find_spec("open_webui") is None:
        raise LaunchRefused(INSTALL_HINT)
    try:
        return version("open-webui")
    except PackageNotFoundError:  # importable from a source tree, not installed
        return "unknown"


def with_manager(lifespan: Lifespan, manager: Any, what: str = "Open WebUI") -> Lifespan:
    """Open WebUI's lifespan, inside one that connects the manager first (a replica serves
    only once its queue is bound, so it never misses an event for its first sockets) and
    closes it last (deleting this replica's queue)."""

    @asynccontextmanager
    async def wrapped(app: Any) -> AsyncIterator[Any]:
        await manager.start()
        try:
            async with lifespan(app) as state:
                # Logged from here: Open WebUI sets up its logging in its own lifespan.
                log.info("%s on eventwire: %s", what, manager.describe())
                yield state
        finally:
            log.info("%s leaves eventwire: %s", what, manager.describe())
            await manager.close()

    return wrapped


def install_manager(settings: Settings) -> Any:
    """Import Open WebUI's Socket.IO module (it builds ``sio`` and an unconnected Redis
    manager) and give ``sio`` an ``EventwireManager``; returns the manager."""
    from eventwire_edge.sio import EventwireManager

    owsock = import_module("open_webui.socket.main")  # Open WebUI ships no type information

    # Open WebUI's JSON module (orjson when ENABLE_ORJSON) serves the values msgpack lacks.
    manager = EventwireManager(settings=settings, json=owsock.SOCKETIO_JSON)
    # Every use in Open WebUI reads sio.manager when it runs, so replacing it before the app
    # is imported is enough; the Redis manager built at import never connected (lazy).
    return manager.install(owsock.sio)


def serve_openwebui(host: str, port: int, settings: Settings) -> int:
    """Run Open WebUI in this process on ``host:port`` until stopped (uvicorn, one worker)."""
    found = openwebui_version()
    os.environ.update(check_environment(os.environ))
    if found != TESTED_VERSION:  # printed: Open WebUI replaces the logging setup next
        print(
            f"eventwire openwebui: Open WebUI {found}, tested with {TESTED_VERSION}",
            file=sys.stderr,
            flush=True,
        )
    manager = install_manager(settings)

    app = import_module("open_webui.main").app  # mounts owsock's app: the same sio
    deflate = import_module("open_webui.env").UVICORN_WS_PER_MESSAGE_DEFLATE
    uvicorn = import_module("uvicorn")
    what = f"Open WebUI {found} (namespace {settings.namespace})"
    app.router.lifespan_context = with_manager(app.router.lifespan_context, manager, what)
    # The app object, not "open_webui.main:app": an import string would be imported afresh.
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        forwarded_allow_ips=os.getenv("FORWARDED_ALLOW_IPS", "*"),
        ws_per_message_deflate=deflate,
    )
    return 0
