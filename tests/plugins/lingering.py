"""
title: Lingering
description: keeps its emitter and uses it from another thread and after returning
"""

import asyncio
import threading


class Pipe:
    async def pipe(self, body: dict, __event_emitter__) -> str:
        def from_thread() -> None:
            asyncio.run(__event_emitter__({"type": "notification", "data": {"type": "info", "content": "from a thread"}}))

        thread = threading.Thread(target=from_thread)
        thread.start()
        await asyncio.to_thread(thread.join)
        loop = asyncio.get_running_loop()
        loop.call_later(
            0.05,
            lambda: loop.create_task(
                __event_emitter__({"type": "notification", "data": {"type": "info", "content": "after return"}})
            ),
        )
        return "returned"
