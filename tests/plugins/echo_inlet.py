"""
title: Echo
description: returns what the inlet left in the messages, uppercasing via the stream filter
"""


class Pipe:
    def pipe(self, body: dict, __messages__: list) -> str:
        return " | ".join(m["content"] for m in __messages__)
