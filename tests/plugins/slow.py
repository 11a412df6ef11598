"""
title: Slow
description: a long run that says which worker runs it; for kill, stop and drain tests
"""

import asyncio


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __metadata__: dict):
        seconds = float(body.get("seconds", 3600))
        await __event_emitter__(
            {
                "type": "status",
                "data": {
                    "description": f"started on {__metadata__['worker_id']}",
                    "worker": __metadata__["worker_id"],
                    "attempt": __metadata__["attempt"],
                    "redelivered": __metadata__["redelivered"],
                },
            }
        )
        steps = int(seconds / 0.05)
        for i in range(steps):
            yield f"{i} "
            await asyncio.sleep(0.05)
        yield f"finished attempt={__metadata__['attempt']} redelivered={__metadata__['redelivered']}"
