"""A separate process that emits and calls through the SDK, driven by JSON lines on stdin.

Run as ``python -m tests.e2e.sender``; the protocol is ``tests.support.procs.serve``. Ops:
``emit``, ``call``, ``presence``, ``state``. Calls run concurrently, so a test can start one and
act while it waits. SDK errors come back as ``{"ok": false, "code", "message"}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from eventwire import Eventwire, EventwireError
from tests.support.procs import serve

Op = Callable[..., Awaitable[dict[str, Any]]]


def reported(op: Op) -> Op:
    async def run(**fields: Any) -> dict[str, Any]:
        try:
            return {"ok": True, **await op(**fields)}
        except EventwireError as exc:
            return {"ok": False, "code": exc.code, "message": str(exc)}

    return run


def handlers(ew: Eventwire) -> dict[str, Op]:
    async def emit(
        user: str,
        event: dict[str, Any],
        session: str | None = None,
        chat: str | None = None,
        message: str | None = None,
    ) -> dict[str, Any]:
        await ew.emit(event, user_id=user, session_id=session, chat_id=chat, message_id=message)
        return {}

    async def call(
        user: str, session: str, event: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        return {"value": await ew.call(event, user_id=user, session_id=session, timeout=timeout)}

    async def presence() -> dict[str, Any]:
        return {"users": await ew.online_users(), "models": await ew.models_in_use()}

    async def state() -> dict[str, Any]:
        outbox = getattr(ew.bus, "outbox", None)
        size = len(outbox) if outbox is not None else 0
        return {"connected": ew.bus.connected, "outbox": size}

    return {op.__name__: reported(op) for op in (emit, call, presence, state)}


async def main() -> None:
    async with Eventwire() as ew:
        await serve(handlers(ew), {})


if __name__ == "__main__":
    asyncio.run(main())
