"""
title: Long
description: streams until stopped; says who ran it and whether it saw the stop
"""

import asyncio


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __metadata__: dict):
        steps = int(body.get("steps") or 0) or 600
        await __event_emitter__(
            {
                "type": "status",
                "data": {"description": f"long run, attempt {__metadata__['attempt']}"},
            }
        )
        try:
            for i in range(steps):
                yield f"step{i} "
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            await __event_emitter__(
                {
                    "type": "notification",
                    "data": {"type": "info", "content": "The worker saw the stop"},
                }
            )
            raise
        yield f"finished on attempt {__metadata__['attempt']}"
