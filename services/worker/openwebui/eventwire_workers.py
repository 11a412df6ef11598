"""
title: eventwire workers
author: eventwire
description: Runs chats on an eventwire worker pool: the workers' pipes are this manifold's models; their status, stream, citations, notifications and dialogs come back through this Function.
version: 0.1.0
license: MIT
"""

# Paste this file into Open WebUI (Admin Panel -> Functions -> +) or POST it to
# /api/v1/functions/create, then enable it. Open WebUI's Python environment needs the eventwire
# SDK: `pip install eventwire` (from a checkout: `pip install --no-deps -e <checkout>` plus
# aio-pika, msgpack, PyJWT, pydantic-settings). Start workers with `eventwire worker` on the
# same broker and namespace. README: "Use with Open WebUI". With Open WebUI on eventwire's
# EventwireManager (`eventwire openwebui`), workers send calls and display-only events
# straight to the tabs (valve DIRECT; README: "Workers straight to the tabs").

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import BaseModel, Field

from eventwire.direct import direct_route, on_this_bus
from eventwire.errors import EventwireError
from eventwire.protocol import DirectRoute, JobUser
from eventwire.relay import RunRelay
from eventwire.settings import Settings

# The ids Open WebUI hands a pipe that are plain data (its metadata also holds live objects).
METADATA_FIELDS = ("chat_id", "message_id", "session_id", "features", "variables", "tool_ids")


def open_webui_socket() -> tuple[Settings | None, Mapping[str, Any], float | None] | None:
    """Open WebUI's Socket.IO state, read where it lives (``open_webui.socket.main``): the
    settings of its client manager when that is eventwire's ``EventwireManager`` (else None),
    its session pool and its ``WEBSOCKET_EVENT_CALLER_TIMEOUT``. None outside Open WebUI.
    Read from the loaded modules only: a manager that was never imported is not in use."""
    socket_main = sys.modules.get("open_webui.socket.main")
    if socket_main is None:
        return None
    manager_module = sys.modules.get("eventwire_edge.sio.manager")
    manager = socket_main.sio.manager
    ours = manager_module is not None and isinstance(manager, manager_module.EventwireManager)
    timeout = getattr(socket_main, "WEBSOCKET_EVENT_CALLER_TIMEOUT", None)
    return (manager.settings if ours else None), socket_main.SESSION_POOL, timeout


class Pipe:
    class Valves(BaseModel):
        AMQP_URL: str = Field(
            default="amqp://guest:guest@127.0.0.1:5672/",
            description="The RabbitMQ the eventwire workers use.",
        )
        NAMESPACE: str = Field(default="eventwire", description="The workers' EVENTWIRE_NAMESPACE.")
        TIMEOUT: float = Field(
            default=600.0,
            gt=0,
            description="Seconds a run may stay silent before it is ended with an error.",
        )
        # A plain str: Open WebUI builds Valves from a module it never registers, so
        # annotations naming imports (a Literal) would not resolve.
        DIRECT: str = Field(
            default="auto",
            pattern="^(auto|off)$",
            description="auto: when Open WebUI runs on eventwire's EventwireManager "
            "(`eventwire openwebui`) on this broker and namespace, workers send notifications, "
            "titles, tags and dialogs straight to the user's tabs; what Open WebUI saves "
            "(answer, status, sources, files) still comes through this Function. off: "
            "everything comes through this Function.",
        )

    def __init__(self) -> None:
        self.type = "manifold"
        self.name = "eventwire: "
        self.valves = self.Valves()
        self._relay: RunRelay | None = None
        self._relay_for: tuple[str, str] | None = None

    async def _connected(self) -> RunRelay:
        """One relay per Open WebUI process, rebuilt when the valves point elsewhere."""
        wanted = (self.valves.AMQP_URL, self.valves.NAMESPACE)
        if self._relay is not None and self._relay_for != wanted:
            await self._relay.close()
            self._relay = None
        if self._relay is None:
            settings = Settings(
                amqp_url=wanted[0], namespace=wanted[1], client_presence=False, connect_timeout=5
            )
            relay = RunRelay(settings)
            await relay.start()
            self._relay, self._relay_for = relay, wanted
        return self._relay

    def _direct(self, user_id: str, metadata: Mapping[str, Any]) -> DirectRoute | None:
        """The run's route straight to the tabs, or None: everything through the relay."""
        socket = self._open_webui_socket() if self.valves.DIRECT == "auto" else None
        if socket is None:
            return None
        manager, sessions, call_timeout = socket
        if not on_this_bus(manager, self.valves.AMQP_URL, self.valves.NAMESPACE):
            return None
        session_id = metadata.get("session_id")
        session = sessions.get(session_id) if isinstance(session_id, str) else None
        owner = session.get("id") if isinstance(session, Mapping) else None
        timeout = call_timeout if isinstance(call_timeout, int | float) else None
        return direct_route(metadata, user_id=user_id, session_owner=owner, call_timeout=timeout)

    def _open_webui_socket(self) -> tuple[Settings | None, Mapping[str, Any], float | None] | None:
        return open_webui_socket()

    async def pipes(self) -> list[dict[str, str]]:
        try:
            models = await (await self._connected()).models()
        except EventwireError as exc:
            return [{"id": "unavailable", "name": f"unavailable ({exc.code}: {exc})"}]
        return [{"id": str(m["id"]), "name": str(m.get("name") or m["id"])} for m in models]

    async def pipe(
        self,
        body: dict[str, Any],
        __user__: dict[str, Any],
        __metadata__: dict[str, Any],
        __event_emitter__: Any = None,
        __event_call__: Any = None,
    ) -> AsyncIterator[str]:
        model = str(body.get("model", "")).split(".", 1)[-1]  # "<function id>.<worker model>"
        metadata = {k: __metadata__.get(k) for k in METADATA_FIELDS if k in __metadata__}
        job_body = {**body, "model": model, "metadata": metadata}
        files = __metadata__.get("files")
        if files and "files" not in job_body:
            job_body["files"] = files

        async def emit(event: dict[str, Any]) -> None:
            if __event_emitter__ is not None:
                await __event_emitter__(event)

        async def ask(event: dict[str, Any]) -> Any:
            if __event_call__ is None:
                return {"error": "this chat has no client to ask"}
            return await __event_call__(event)

        user = JobUser(
            id=str(__user__.get("id")),
            name=__user__.get("name"),
            email=__user__.get("email"),
            role=str(__user__.get("role") or "user"),
        )
        try:
            relay = await self._connected()
            async for text in relay.run(
                model=model,
                body=job_body,
                user=user,
                emit=emit,
                ask=ask,
                chat_id=__metadata__.get("chat_id"),
                message_id=__metadata__.get("message_id"),
                session_id=__metadata__.get("session_id"),
                idle_timeout=self.valves.TIMEOUT,
                direct=self._direct(user.id, __metadata__),
            ):
                yield text
        except EventwireError as exc:
            # Said in the chat at once: no worker, no broker, a silent worker, a failed run.
            await emit(
                {"type": "status", "data": {"description": f"eventwire: {exc}", "done": True}}
            )
            yield f"\n\n**eventwire**: {exc.code}: {exc}"
