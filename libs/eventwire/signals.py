"""Process lifecycle: wait for the signal that ends a service."""

from __future__ import annotations

import asyncio
import signal


async def wait_for_signal() -> signal.Signals:
    """Return the first SIGINT or SIGTERM received."""
    received: asyncio.Future[signal.Signals] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()

    def on(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on, sig)
    try:
        return await received
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
