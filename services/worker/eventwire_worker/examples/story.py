"""
title: Story
author: eventwire
version: 0.1.0
description: A long answer streamed slowly, chapter by chapter: press Stop to halt it.
"""

import asyncio
from collections.abc import AsyncIterator

from pydantic import BaseModel, Field

SENTENCE = "Once more the event crossed the broker, found its edge node and reached the page."


class Pipe:
    class Valves(BaseModel):
        chapters: int = Field(20, description="how many chapters the story has")
        delay: float = Field(0.15, description="seconds between streamed words")

    def __init__(self) -> None:
        self.valves = self.Valves()

    async def pipe(self, body: dict, __event_emitter__) -> AsyncIterator[str]:
        chapters = self.valves.chapters
        for chapter in range(1, chapters + 1):
            await __event_emitter__(
                {
                    "type": "status",
                    "data": {"description": f"Writing chapter {chapter}/{chapters}", "done": False},
                }
            )
            yield f"{chapter}. "
            for word in SENTENCE.split():
                yield word + " "
                await asyncio.sleep(self.valves.delay)
            yield "\n"
        await __event_emitter__(
            {"type": "status", "data": {"description": "The end", "done": True}}
        )
