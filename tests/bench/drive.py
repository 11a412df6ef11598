"""Send loops shared by the emitter process and the no-broker floor: fixed rate and burst.

Each benchmark event carries ``{"s": seq, "t": monotonic ns at send}`` so a load process can
count it and time it. ``send(seq, user, t)`` is the system under test's emit.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from tests.bench.control import now_ns

Send = Callable[[int, str, int], Awaitable[None]]


def delta_event(seq: int, t: int) -> dict[str, Any]:
    """A streamed token, the most frequent event a pipeline emits."""
    return {"type": "chat:message:delta", "data": {"content": "token ", "s": seq, "t": t}}


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """Open WebUI's wire shape around an event."""
    return {"chat_id": "bench-chat", "message_id": "bench-message", "data": event}


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.errors: Counter[str] = Counter()

    async def guard(self, send: Send, seq: int, user: str) -> None:
        try:
            await send(seq, user, now_ns())
            self.sent += 1
        except Exception as exc:
            self.errors[type(exc).__name__] += 1


async def at_rate(
    send: Send, users: list[str], rate: float, duration: float, first_seq: int = 0
) -> dict[str, Any]:
    """Open loop: one send every 1/rate s, not waiting for earlier ones to finish."""
    n = max(1, int(rate * duration))
    interval = 1e9 / rate
    tally = Tally()
    inflight: set[asyncio.Task[None]] = set()
    lag_max = 0
    start = now_ns() + 20_000_000
    for i in range(n):
        target = start + int(i * interval)
        delay = target - now_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        lag_max = max(lag_max, now_ns() - target)
        seq = first_seq + i
        task = asyncio.create_task(tally.guard(send, seq, users[seq % len(users)]))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    await asyncio.gather(*inflight)
    return {
        "sent": tally.sent,
        "attempted": n,
        "errors": dict(tally.errors),
        "seconds": (now_ns() - start) / 1e9,
        "schedule_lag_max_ms": lag_max / 1e6,
    }


async def burst(
    send: Send, users: list[str], n: int, window: int, first_seq: int = 0
) -> dict[str, Any]:
    """Closed loop: ``window`` senders in flight until ``n`` events are sent."""
    tally = Tally()
    counter = iter(range(first_seq, first_seq + n))
    start = now_ns()

    async def worker() -> None:
        for seq in counter:
            await tally.guard(send, seq, users[seq % len(users)])

    await asyncio.gather(*(worker() for _ in range(window)))
    end = now_ns()
    return {
        "sent": tally.sent,
        "attempted": n,
        "errors": dict(tally.errors),
        "first_send": start,
        "last_send": end,
        "send_rate": tally.sent / max((end - start) / 1e9, 1e-9),
    }
