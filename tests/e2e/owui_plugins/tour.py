"""
title: Tour
description: every kind of event a plugin sends Open WebUI, from an eventwire worker
"""

import asyncio


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __event_call__, __metadata__: dict):
        await __event_emitter__(
            {
                "type": "status",
                "data": {
                    "description": f"Tour on worker {__metadata__['worker_id']}",
                    "done": False,
                },
            }
        )
        yield "Welcome to the eventwire tour: "
        yield "the worker streams, then asks. "
        ok = await __event_call__(
            {
                "type": "confirmation",
                "data": {"title": "Proceed with the tour?", "message": "The worker asks."},
            }
        )
        if ok is not True:
            yield "The tour was declined."
            return
        name = await __event_call__(
            {
                "type": "input",
                "data": {
                    "title": "Your name",
                    "message": "For the greeting",
                    "placeholder": "name",
                },
            }
        )
        await __event_emitter__(
            {
                "type": "notification",
                "data": {"type": "success", "content": f"Worker greets {name}"},
            }
        )
        await __event_emitter__(
            {
                "type": "citation",
                "data": {
                    "document": ["The tour document, cited by the worker."],
                    "metadata": [{"source": "tour-source"}],
                    "source": {"name": "tour-source", "url": "https://example.org/tour"},
                },
            }
        )
        for word in f"Hello {name}, this answer was streamed by an eventwire worker.".split():
            yield word + " "
            await asyncio.sleep(0.02)
        await __event_emitter__(
            {"type": "status", "data": {"description": "Tour done", "done": True}}
        )
