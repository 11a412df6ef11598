"""
title: Thumbs up
author: eventwire
version: 0.1.0
description: An action button on a message.
"""


class Action:
    async def action(self, body: dict, __user__: dict, __event_emitter__=None) -> dict:
        await __event_emitter__(
            {"type": "notification", "data": {"type": "info", "content": "Thanks for the feedback"}}
        )
        return {"liked": body.get("id"), "by": __user__["id"]}
