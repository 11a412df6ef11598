"""
title: Needs a library
requirements: definitely-not-installed-eventwire-lib
"""

import definitely_not_installed_eventwire_lib  # noqa: F401


class Pipe:
    def pipe(self, body: dict) -> str:
        return "never"
