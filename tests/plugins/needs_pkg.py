"""
title: Needs a package it does not declare
"""

import definitely_missing_eventwire_pkg  # noqa: F401


class Pipe:
    def pipe(self, body: dict) -> str:
        return "never"
