"""The JSON-lines control channel between the runner and the processes it starts.

A child prints ``ready <json>`` once, then answers each request line
``{"seq", "op", ...}`` with one line ``{"seq", ...}``; requests run concurrently.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Coroutine
from typing import Any

from tests.support.procs import JsonLinesProc

REQUEST_TIMEOUT = 600.0
LINE_LIMIT = 2**26


def now_ns() -> int:
    """CLOCK_MONOTONIC: system-wide on Linux, so timestamps compare across processes."""
    return time.monotonic_ns()


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a child's main on uvloop when installed (BENCH_LOOP=asyncio to opt out)."""
    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop

            uvloop.run(main)
            return
        except ImportError:
            pass
    asyncio.run(main)


class Child(JsonLinesProc):
    """A started child driven through ``request``; ``info`` is what its ready line said."""

    request_timeout = REQUEST_TIMEOUT

    def __init__(
        self, module: str, *args: str, env: dict[str, str], name: str, python: str = ""
    ) -> None:
        # A line limit that fits a phase's samples on one line. ``python``: another interpreter
        # (Open WebUI's own virtualenv, for its room-channel manager at its pinned versions).
        super().__init__(
            python or sys.executable, "-m", module, *args, env=env, name=name, limit=LINE_LIMIT
        )
