"""
title: Polite filter
author: eventwire
version: 0.1.0
description: inlet adds a system message, stream fixes a word, outlet signs the answer.
"""

from pydantic import BaseModel


class Filter:
    class Valves(BaseModel):
        priority: int = 0
        signature: str = "-- sent through eventwire"

    def __init__(self) -> None:
        self.valves = self.Valves()

    def inlet(self, body: dict, __user__: dict | None = None) -> dict:
        body.setdefault("messages", []).insert(0, {"role": "system", "content": "Be polite."})
        return body

    def stream(self, event: dict) -> dict:
        for choice in event.get("choices", []):
            delta = choice.get("delta", {})
            if "content" in delta:
                delta["content"] = delta["content"].replace("dumb", "d*mb")
        return event

    async def outlet(self, body: dict, __event_emitter__) -> dict:
        last = body["messages"][-1]
        last["content"] = f"{last['content'].rstrip()}\n\n{self.valves.signature}"
        return body
