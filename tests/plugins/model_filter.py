"""
title: Model filter
description: reports the __model__ a Filter sees, for bodies that ask for it
"""


class Filter:
    async def inlet(self, body: dict, __model__: dict, __id__: str, __event_emitter__) -> dict:
        if body.get("report_model"):
            await __event_emitter__({"type": "seen:model", "data": {"by": __id__, "model": __model__}})
        return body
