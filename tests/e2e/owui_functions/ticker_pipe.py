"""
title: Ticker Pipe
description: Pure Open WebUI: asks a name through an input dialog, greets with a notification,
  then streams ticks until the user presses Stop, and says it saw the cancellation.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


class Pipe:
    async def pipe(
        self,
        body: dict[str, Any],
        __event_emitter__: Callable[[dict[str, Any]], Awaitable[None]],
        __event_call__: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> AsyncIterator[str]:
        name = await __event_call__(
            {
                "type": "input",
                "data": {"title": "Your name", "message": "Who is asking?", "placeholder": "name"},
            }
        )
        await __event_emitter__(
            {"type": "notification", "data": {"type": "info", "content": f"Hello, {name}!"}}
        )
        try:
            for tick in range(10_000):
                yield f"tick{tick} "
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            # Stop cancels the task running this generator; the emitter still works here.
            await __event_emitter__(
                {"type": "notification", "data": {"type": "warning", "content": "Ticker stopped"}}
            )
            raise
