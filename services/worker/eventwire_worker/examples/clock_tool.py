"""
title: Clock
author: eventwire
version: 0.1.0
description: A tool a model can call; reports progress while it works.
"""

import datetime


class Tools:
    async def current_time(self, timezone_offset_hours: int = 0, __event_emitter__=None) -> str:
        """Tell the current time.
        :param timezone_offset_hours: hours east of UTC
        """
        await __event_emitter__(
            {"type": "status", "data": {"description": "Checking the clock", "done": False}}
        )
        tz = datetime.timezone(datetime.timedelta(hours=timezone_offset_hours))
        now = datetime.datetime.now(tz).strftime("%H:%M")
        await __event_emitter__({"type": "status", "data": {"description": now, "done": True}})
        return f"It is {now}."
