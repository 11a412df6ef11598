"""
title: Manifold
author: eventwire
version: 0.1.0
description: A manifold pipe (several models from one file) with a synchronous generator.
"""

import time


class Pipe:
    def __init__(self) -> None:
        self.type = "manifold"
        self.name = "echo/"

    def pipes(self) -> list[dict]:
        return [{"id": "upper", "name": "upper"}, {"id": "lower", "name": "lower"}]

    def pipe(self, body: dict):
        variant = body["model"][body["model"].find(".") + 1 :]
        text = body["messages"][-1]["content"]
        for word in text.split():
            time.sleep(0.01)  # blocking on purpose: the worker runs sync plugins in a thread
            yield (word.upper() if variant == "upper" else word.lower()) + " "
