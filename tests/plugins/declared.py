"""
title: Declared
description: declares only what it wants; a sync method that must run off the event loop
"""

import threading


class Pipe:
    def pipe(self, body: dict, __user__: dict) -> str:
        where = "thread" if threading.current_thread() is not threading.main_thread() else "loop"
        return f"{__user__['id']} in {where}"
