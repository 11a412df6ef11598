"""
title: Asker
description: the three call kinds, and a call the plugin gives up on with asyncio.wait_for
"""

import asyncio


class Pipe:
    async def pipe(self, body: dict, __event_call__, __event_emitter__) -> str:
        kind = body.get("ask", "confirmation")
        if kind == "wait_for":
            try:
                await asyncio.wait_for(
                    __event_call__({"type": "confirmation", "data": {"title": "quick?"}}), 0.3
                )
            except asyncio.TimeoutError:
                return "gave up"
            return "answered"
        if kind == "confirmation":
            ok = await __event_call__({"type": "confirmation", "data": {"title": "Sure?", "message": "?"}})
            if ok is not True:
                return "took the cancel branch"
            return "confirmed"
        if kind == "input":
            text = await __event_call__({"type": "input", "data": {"title": "Name?", "placeholder": "name"}})
            return f"input was {text}"
        value = await __event_call__({"type": "execute", "data": {"code": "return 6 * 7"}})
        return f"execute returned {value}"
