"""
title: Streamer
description: an async generator that streams fast; throttled by the worker
"""


class Pipe:
    async def pipe(self, body: dict):
        for i in range(200):
            yield f"{i} "
