"""
title: Marker filter
description: inlet / stream / outlet, acting only on bodies that ask for it
"""


class Filter:
    def inlet(self, body: dict, __messages__: list | None = None) -> dict:
        if body.get("mark"):
            body["messages"].append({"role": "system", "content": "inlet was here"})
        return body

    async def stream(self, event: dict, __metadata__: dict) -> dict:
        return event

    def outlet(self, body: dict) -> dict:
        if body.get("mark"):
            body["messages"][-1]["content"] += " [outlet]"
        return body
