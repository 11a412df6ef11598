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
# same broker and namespace. README: "Use with Open WebUI".

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, Field

from eventwire.errors import EventwireError
from eventwire.protocol import JobUser
from eventwire.relay import RunRelay
from eventwire.settings import Settings

# The ids Open WebUI hands a pipe that are plain data (its metadata also holds live objects).
METADATA_FIELDS = ("chat_id", "message_id", "session_id", "features", "variables", "tool_ids")


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
            ):
                yield text
        except EventwireError as exc:
            # Said in the chat at once: no worker, no broker, a silent worker, a failed run.
            await emit(
                {"type": "status", "data": {"description": f"eventwire: {exc}", "done": True}}
            )
            yield f"\n\n**eventwire**: {exc.code}: {exc}"
