"""
title: Broken
"""

class Pipe:
    def pipe(self, body: dict) -> str
        return "syntax error above"
