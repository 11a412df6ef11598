"""
title: Probe
version: 1.0
description: reports every context parameter it received
"""

import threading

from fastapi import Request  # plugins import fastapi for type hints
from pydantic import BaseModel


class Pipe:
    class UserValves(BaseModel):
        units: str = "metric"

    async def pipe(self, body: dict, __request__: Request, **kwargs) -> str:
        emit = kwargs["__event_emitter__"]
        meta = kwargs["__metadata__"]
        user = dict(kwargs["__user__"])
        user["valves"] = user["valves"].model_dump()
        report = {
            "received": sorted(k for k in kwargs if k.startswith("__")) + ["__request__"],
            "user": user,
            "metadata": {k: meta[k] for k in (
                "user_id", "session_id", "chat_id", "message_id", "task_id", "attempt",
                "redelivered", "model", "features") },
            "has_event_token": "event_token" in meta,
            "tool_headers": sorted(meta.get("tool_headers", {})),
            "request": {
                "type": type(__request__).__name__,
                "header": __request__.headers.get("x-probe"),
                "path": __request__.url.path,
                "models": sorted(__request__.app.state.MODELS),
                "authorization": __request__.headers.get("authorization"),
                "cookies": dict(__request__.cookies),
            },
            "model": kwargs["__model__"]["id"],
            "messages_is_body": kwargs["__messages__"] is body["messages"],
            "files_is_metadata": kwargs["__files__"] is meta["files"],
            "ids": [kwargs["__id__"], kwargs["__chat_id__"], kwargs["__session_id__"],
                    kwargs["__message_id__"]],
            "task": kwargs["__task__"],
            "closure": [c.cell_contents for c in emit.__closure__][0]["chat_id"],
            "loop_thread": threading.current_thread() is threading.main_thread(),
        }
        await emit({"type": "probe", "data": report})
        return "probed"
