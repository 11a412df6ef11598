"""
title: Blocking
description: a sync Pipe whose first attempt returns only once body["release"] exists, if
  ever (a thread cannot be cancelled); records start/end markers and whether another run's code was still alive when it started
"""

import asyncio
import fcntl
import json
import os
import time
from pathlib import Path


class Pipe:
    def pipe(self, body: dict, __metadata__: dict, __event_emitter__) -> str:
        markers = Path(body["markers"])
        attempt = __metadata__["attempt"]
        lock = open(markers.with_suffix(".lock"), "a")  # held while this run's code runs
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            overlapped = False
        except BlockingIOError:  # another run's code is still alive somewhere
            overlapped = True
        self._mark(markers, "start", attempt, overlapped)
        asyncio.run(
            __event_emitter__(
                {"type": "status", "data": {"description": "blocking", "attempt": attempt,
                                            "worker": __metadata__["worker_id"]}}
            )
        )
        release = Path(body["release"]) if body.get("release") else None
        while attempt == 1 and not (release and release.exists()):
            time.sleep(0.05)  # deaf to cancellation, as sync plugin code is
        self._mark(markers, "end", attempt, overlapped)
        lock.close()
        return f"done attempt={attempt}"

    @staticmethod
    def _mark(markers: Path, event: str, attempt: int, overlapped: bool) -> None:
        line = {"event": event, "pid": os.getpid(), "attempt": attempt, "overlapped": overlapped}
        with markers.open("a") as f:
            f.write(json.dumps(line) + "\n")
