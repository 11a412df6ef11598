"""
title: Split
description: a status and the answer (Open WebUI saves both) go through the relay; with Open
  WebUI on EventwireManager, a notification and a confirmation go straight to the tab
"""


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __event_call__, __metadata__: dict):
        worker = __metadata__["worker_id"]
        status = {"description": f"Split run on worker {worker}", "done": False}
        await __event_emitter__({"type": "status", "data": status})
        hello = {"type": "info", "content": f"Worker {worker} says hi"}
        await __event_emitter__({"type": "notification", "data": hello})
        ask = {"title": "Straight to the tab?", "message": "The worker asks."}
        ok = await __event_call__({"type": "confirmation", "data": ask})
        yield f"The worker got the answer {ok}. "
        done = {"description": "Split run done", "done": True}
        await __event_emitter__({"type": "status", "data": done})
