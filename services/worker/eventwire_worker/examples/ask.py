"""
title: Ask
author: eventwire
version: 0.1.0
description: Asks the user (confirmation, input) and runs code in their browser (execute).
"""


class Pipe:
    async def pipe(self, body: dict, __event_emitter__, __event_call__) -> str:
        confirmed = await __event_call__(
            {"type": "confirmation", "data": {"title": "Continue?", "message": "Run the demo?"}}
        )
        if confirmed is not True:
            await __event_emitter__(
                {"type": "notification", "data": {"type": "warning", "content": "Cancelled"}}
            )
            return "You cancelled."
        name = await __event_call__(
            {
                "type": "input",
                "data": {"title": "Your name", "message": "Who are you?", "placeholder": "name"},
            }
        )
        result = await __event_call__(
            {"type": "execute", "data": {"code": "return document.title || 'no title';"}}
        )
        return f"Hello {name}. Your page says: {result}"
