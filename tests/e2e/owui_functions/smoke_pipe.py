"""
title: Smoke Pipe
description: Pure Open WebUI: a status, a confirmation through __event_call__, streamed text.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


class Pipe:
    def __init__(self) -> None:
        self.name = "Smoke"

    async def pipe(
        self,
        body: dict[str, Any],
        __event_emitter__: Callable[[dict[str, Any]], Awaitable[None]],
        __event_call__: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> AsyncIterator[str]:
        await __event_emitter__(
            {"type": "status", "data": {"description": "Smoke pipe is thinking", "done": False}}
        )
        confirmed = await __event_call__(
            {"type": "confirmation", "data": {"title": "Smoke check", "message": "Go ahead?"}}
        )
        await __event_emitter__(
            {"type": "status", "data": {"description": f"Confirmed: {confirmed}", "done": True}}
        )
        for word in ["Smoke ", "streamed ", "answer: ", f"confirmed={confirmed}"]:
            yield word
            await asyncio.sleep(0)
