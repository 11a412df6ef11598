"""
title: Boom
description: raises every time
"""


class Pipe:
    async def pipe(self, body: dict, __event_emitter__) -> str:
        await __event_emitter__({"type": "status", "data": {"description": "about to fail"}})
        raise ValueError("boom: the model is on fire")
