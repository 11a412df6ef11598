"""
title: Replica Pipe
description: Pure Open WebUI: names the replica running it (OWUI_REPLICA), streams, asks a
  confirmation and repeats the answer; a prompt with "tick" streams until Stop.
"""

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


class Pipe:
    async def pipe(
        self,
        body: dict[str, Any],
        __event_emitter__: Callable[[dict[str, Any]], Awaitable[None]],
        __event_call__: Callable[[dict[str, Any]], Awaitable[Any]],
    ) -> AsyncIterator[str]:
        replica = os.environ.get("OWUI_REPLICA", "unknown")
        prompt = str(body["messages"][-1]["content"])
        await __event_emitter__(
            {"type": "status", "data": {"description": f"Running on replica {replica}"}}
        )
        yield f"Hello from replica {replica}. "
        if "tick" in prompt:
            try:
                for tick in range(10_000):
                    yield f"tick{tick} "
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                # Stop cancels the task running this generator; the emitter still works here.
                await __event_emitter__(
                    {
                        "type": "notification",
                        "data": {"type": "warning", "content": f"Stopped on replica {replica}"},
                    }
                )
                raise
            return
        answer = await __event_call__(
            {
                "type": "confirmation",
                "data": {"title": "Carry on?", "message": f"Replica {replica} asks."},
            }
        )
        yield f"Replica {replica} got the answer {answer}. "
        await __event_emitter__(
            {"type": "status", "data": {"description": f"Done on replica {replica}", "done": True}}
        )
