"""
title: Short
description: a run that takes a few seconds and names its attempt: for a worker killed mid-run
"""

import asyncio


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __metadata__: dict):
        attempt = __metadata__["attempt"]
        await __event_emitter__(
            {
                "type": "status",
                "data": {
                    "description": f"short run, attempt {attempt}",
                    "worker": __metadata__["worker_id"],
                },
            }
        )
        for i in range(40):
            yield f"s{i} "
            await asyncio.sleep(0.1)
        yield f"finished on attempt {attempt}"
