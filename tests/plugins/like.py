"""
title: Like
description: an Action
"""


class Action:
    async def action(self, body: dict, __user__: dict, __event_emitter__) -> dict:
        await __event_emitter__({"type": "notification", "data": {"type": "success", "content": "liked"}})
        return {"liked": body.get("id"), "by": __user__["id"]}
