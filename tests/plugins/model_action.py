"""
title: Model action
description: an Action that reports the __model__ it sees
"""


class Action:
    async def action(self, body: dict, __model__: dict) -> dict:
        return {"model": __model__}
