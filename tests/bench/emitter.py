"""The emitter / worker process: sends benchmark events or calls from outside any server.

``--system eventwire``: the SDK (``Eventwire.emit`` / ``Eventwire.call``), configured from the
environment like any worker. ``--system socketio``: python-socketio's write-only
``AsyncAioPikaManager``. ``--system owui``: Open WebUI's write-only room-channel manager (run by
Open WebUI's own interpreter). ``--system manager``: eventwire's write-only ``EventwireManager``
(emits and calls as python-socketio code would). ``--system rpc``: a bare aio-pika
request/reply client (the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from tests.bench import drive
from tests.bench.control import now_ns, run
from tests.support.procs import serve


@contextlib.asynccontextmanager
async def eventwire_sender() -> AsyncIterator[dict[str, Any]]:
    from eventwire import Eventwire

    async with Eventwire() as ew:

        async def send(seq: int, user: str, t: int) -> None:
            await ew.emit(
                drive.delta_event(seq, t),
                user_id=user,
                chat_id="bench-chat",
                message_id="bench-message",
            )

        async def call(seq: int, user: str, sid: str, t: int, timeout: float) -> Any:
            event = {"type": "confirmation", "data": {"title": "bench", "s": seq, "t": t}}
            return await ew.call(event, user_id=user, session_id=sid, timeout=timeout)

        yield {"send": send, "call": call}


@contextlib.asynccontextmanager
async def socketio_sender(channel: str) -> AsyncIterator[dict[str, Any]]:
    import socketio

    manager = socketio.AsyncAioPikaManager(os.environ["AMQP_URL"], channel=channel, write_only=True)

    async def send(seq: int, user: str, t: int) -> None:
        await manager.emit("events", drive.payload(drive.delta_event(seq, t)), room=f"user.{user}")

    try:
        yield {"send": send}
    finally:
        if manager.publisher_connection is not None:
            await manager.publisher_connection.close()


@contextlib.asynccontextmanager
async def owui_sender(channel: str) -> AsyncIterator[dict[str, Any]]:
    from tests.bench.servers import owui_manager

    manager = owui_manager(channel, write_only=True)

    async def send(seq: int, user: str, t: int) -> None:
        await manager.emit("events", drive.payload(drive.delta_event(seq, t)), room=f"user.{user}")

    yield {"send": send}


@contextlib.asynccontextmanager
async def manager_sender(channel: str) -> AsyncIterator[dict[str, Any]]:
    from eventwire_edge.sio import EventwireManager

    manager = EventwireManager(os.environ["AMQP_URL"], channel=channel, write_only=True)
    await manager.start()

    async def send(seq: int, user: str, t: int) -> None:
        await manager.emit("events", drive.payload(drive.delta_event(seq, t)), room=f"user.{user}")

    async def call(seq: int, user: str, sid: str, t: int, timeout: float) -> Any:
        event = {"type": "confirmation", "data": {"title": "bench", "s": seq, "t": t}}
        return await manager.call("events", drive.payload(event), to=sid, timeout=timeout)

    try:
        yield {"send": send, "call": call}
    finally:
        await manager.close()


class RpcClient:
    """aio-pika's request/reply pattern: a default channel, an exclusive reply queue."""

    def __init__(self) -> None:
        self.pending: dict[str, asyncio.Future[bytes]] = {}

    async def __aenter__(self) -> RpcClient:
        import aio_pika

        self.connection = await aio_pika.connect(os.environ["AMQP_URL"])
        self.channel = await self.connection.channel()
        self.replies = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await self.replies.consume(self._on_reply, no_ack=True)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.connection.close()

    async def _on_reply(self, message: Any) -> None:
        future = self.pending.pop(message.correlation_id, None)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def request(self, queue: str, body: bytes) -> bytes:
        import aio_pika

        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[correlation_id] = future
        message = aio_pika.Message(body, correlation_id=correlation_id, reply_to=self.replies.name)
        await self.channel.default_exchange.publish(message, routing_key=queue)
        return await future


async def timed_at_rate(one: Any, count: int, rate: float, duration: float) -> dict[str, Any]:
    """Round trips started at a fixed rate; ``one(i, t)`` performs round trip ``i``."""
    rtts: list[int] = []
    errors: Counter[str] = Counter()

    async def timed(i: int, user: str, t: int) -> None:
        try:
            await one(i, t)
            rtts.append((now_ns() - t) // 1000)
        except Exception as exc:
            errors[type(exc).__name__] += 1

    users = [str(i) for i in range(count)]
    result = await drive.at_rate(timed, users, rate, duration)
    result["rtt_us"] = rtts
    result["errors"] = dict(errors)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--system", choices=["eventwire", "socketio", "owui", "manager", "rpc"], required=True
    )
    parser.add_argument("--channel", default="eventwire-bench")
    args = parser.parse_args()

    if args.system == "rpc":
        async with RpcClient() as rpc:

            async def rpc_rate(queue: str, rate: float, duration: float) -> Any:
                async def one(i: int, t: int) -> None:
                    await rpc.request(queue, b'{"s": %d, "t": %d}' % (i, t))

                return await timed_at_rate(one, 1, rate, duration)

            await serve({"rpc": rpc_rate}, {})
        return

    senders = {
        "eventwire": eventwire_sender,
        "socketio": lambda: socketio_sender(args.channel),
        "owui": lambda: owui_sender(args.channel),
        "manager": lambda: manager_sender(args.channel),
    }
    sender = senders[args.system]()
    async with sender as ops:
        send = ops["send"]

        async def rate(users: list[str], rate: float, duration: float, first_seq: int = 0) -> Any:
            return await drive.at_rate(send, users, rate, duration, first_seq)

        async def burst(users: list[str], n: int, window: int, first_seq: int = 0) -> Any:
            return await drive.burst(send, users, n, window, first_seq)

        async def calls(
            targets: list[list[str]], rate: float, duration: float, timeout: float = 10.0
        ) -> Any:
            async def one(i: int, t: int) -> None:
                user, sid = targets[i % len(targets)]
                await ops["call"](i, user, sid, t, timeout)

            return await timed_at_rate(one, len(targets), rate, duration)

        await serve({"rate": rate, "burst": burst, "calls": calls}, {})


if __name__ == "__main__":
    run(main())
