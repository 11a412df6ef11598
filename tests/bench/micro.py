"""``python -m tests.bench.micro``: the SDK's CPU per emit in one process, on the real broker.

A quick, low-noise figure for the emit path alone (validation, encoding, aiormq framing, the
publisher confirm), as the README's Performance section reports it: 100 concurrent emitters
send 20,000 events to 200 users on one connection; CPU time of this process per emit and the
emits per second it sustained. ``EVENTWIRE_AMQP_FASTPATH=0`` runs it on stock aiormq.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from eventwire import Eventwire, Settings

EVENT = {"type": "chat:message:delta", "data": {"content": "a streamed token"}}


async def measure(n: int = 20_000, concurrency: int = 100) -> tuple[float, float]:
    settings = Settings(namespace=f"ewmicro-{uuid.uuid4().hex[:8]}", client_presence=False)
    async with Eventwire(settings) as ew:

        async def sender(count: int) -> None:
            for i in range(count):
                await ew.emit(EVENT, user_id=f"u{i % 200}", chat_id="c", message_id="m")

        await asyncio.gather(*(sender(20) for _ in range(concurrency)))  # warm up
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(sender(n // concurrency) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1e6 / n, n / wall


def main() -> None:
    try:
        import uvloop
    except ImportError:
        us, rate = asyncio.run(measure())
    else:
        us, rate = uvloop.run(measure())
    print(f"SDK CPU per emit: {us:.1f} us; {rate:,.0f} emits/s on one connection")


if __name__ == "__main__":
    main()
