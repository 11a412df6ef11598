"""A separate process that emits and calls through the SDK, driven by JSON lines on stdin.

Requests: {"seq", "op": "emit"|"call"|"state"|"presence", ...}; each gets one reply line with
its seq.
Calls run concurrently, so a test can start one and act while it waits.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from eventwire import Eventwire, EventwireError


async def handle(ew: Eventwire, request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    try:
        if op == "emit":
            await ew.emit(
                request["event"],
                user_id=request["user"],
                session_id=request.get("session"),
                chat_id=request.get("chat"),
                message_id=request.get("message"),
            )
            return {"ok": True}
        if op == "call":
            value = await ew.call(
                request["event"],
                user_id=request["user"],
                session_id=request["session"],
                timeout=request.get("timeout"),
            )
            return {"ok": True, "value": value}
        if op == "presence":
            return {
                "ok": True,
                "users": await ew.online_users(),
                "models": await ew.models_in_use(),
            }
        if op == "state":
            outbox = getattr(ew.bus, "outbox", None)
            return {
                "ok": True,
                "connected": ew.bus.connected,
                "outbox": len(outbox) if outbox is not None else 0,
            }
        return {"ok": False, "code": "bad_request", "message": f"unknown op {op!r}"}
    except EventwireError as exc:
        return {"ok": False, "code": exc.code, "message": str(exc)}


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()

    async def run(request: dict[str, Any]) -> None:
        reply = await handle(ew, request)
        sys.stdout.write(json.dumps({"seq": request["seq"], **reply}) + "\n")
        sys.stdout.flush()

    async with Eventwire() as ew:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while line := await reader.readline():
            task = asyncio.create_task(run(json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        for task in tasks:
            task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
