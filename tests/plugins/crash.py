"""
title: Crash
description: kills the worker process running it (a poison job)
"""

import os
import signal


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __metadata__: dict) -> str:
        await __event_emitter__(
            {"type": "status", "data": {"description": f"crashing attempt {__metadata__['attempt']}"}}
        )
        os.kill(os.getpid(), signal.SIGKILL)
        return "unreachable"
