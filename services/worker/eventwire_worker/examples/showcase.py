"""
title: Showcase
author: eventwire
version: 0.1.0
description: A pipe that emits every kind of event Open WebUI knows, as a real plugin would.
"""

import asyncio
from collections.abc import AsyncIterator

from pydantic import BaseModel, Field


class Pipe:
    class Valves(BaseModel):
        delay: float = Field(0.05, description="seconds between streamed words")

    class UserValves(BaseModel):
        greeting: str = Field("Hello", description="how the pipe greets you")

    def __init__(self) -> None:
        self.valves = self.Valves()

    async def pipe(
        self, body: dict, __user__: dict, __event_emitter__, __metadata__: dict
    ) -> AsyncIterator[str]:
        emit = __event_emitter__
        name = __user__.get("name") or __user__["id"]
        greeting = __user__["valves"].greeting
        await emit({"type": "status", "data": {"description": "Reading sources", "done": False}})
        for i in range(1, 4):
            await emit({"type": "status", "data": {"description": f"Source {i}/3", "done": False}})
            await emit(
                {
                    "type": "source",
                    "data": {
                        "document": [f"Excerpt {i} from the knowledge base."],
                        "metadata": [{"source": f"doc-{i}.md"}],
                        "source": {"name": f"doc-{i}.md"},
                    },
                }
            )
        await emit({"type": "status", "data": {"description": "Internal step", "hidden": True}})
        await emit({"type": "status", "data": {"description": "Writing", "done": True}})
        for word in f"{greeting}, {name}! Every event kind is on its way.".split():
            yield word + " "
            await asyncio.sleep(self.valves.delay)
        await emit({"type": "chat:message:delta", "data": {"content": "\n\n(appended by delta)"}})
        await emit(
            {
                "type": "chat:message:files",
                "data": {
                    "files": [
                        {
                            "type": "image",
                            "url": "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='40' height='40'><circle cx='20' cy='20' r='18' fill='teal'/></svg>",
                        }
                    ]
                },
            }
        )
        await emit({"type": "chat:title", "data": "eventwire showcase"})
        await emit({"type": "chat:tags", "data": ["demo", "eventwire"]})
        await emit(
            {
                "type": "citation",
                "data": {"document": ["A citation."], "source": {"name": "cite.md"}},
            }
        )
        await emit({"type": "chat:message:favorite", "data": {"favorite": True}})
        await emit({"type": "execute", "data": {"code": "console.log('hello from eventwire')"}})
        await emit(
            {"type": "notification", "data": {"type": "success", "content": "Showcase done"}}
        )
