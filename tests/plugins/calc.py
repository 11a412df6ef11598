"""
title: Calc
description: a Tools plugin
"""


class Tools:
    def add(self, a: int, b: int, __user__: dict) -> dict:
        """Add two numbers."""
        return {"sum": a + b, "for": __user__["id"]}

    def _private(self) -> str:
        return "never callable"
