"""The client managers the conformance suite runs on, each on its real broker.

Every flavor makes managers for one test's private channel, stops them, and removes what
they leave on the shared broker (exchanges, queues). The python-socketio references are
used as their users use them; the subclasses here only record the names of the queues they
declare (for clean-up) and when their listener is bound (see ``listening``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import socketio

from tests.support.sio import EventwireFlavor, Flavor
from tests.support.tabs import eventually

__all__ = ["AioPikaFlavor", "EventwireFlavor", "Flavor", "RedisFlavor"]


def _counting(manager: Any) -> None:
    """Count the emits a python-socketio pub/sub manager takes from its listener."""
    manager.emits_seen = 0
    handle = manager._handle_emit

    @functools.wraps(handle)
    async def counted(message: dict[str, Any]) -> None:
        if message.get("host_id") != manager.host_id:
            manager.emits_seen += 1
        await handle(message)

    manager._handle_emit = counted


class _RecordingAioPika(socketio.AsyncAioPikaManager):  # type: ignore[misc]
    declared: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.declared = []
        self.bound = asyncio.Event()

    async def _queue(self, channel: Any, exchange: Any) -> Any:
        queue = await super()._queue(channel, exchange)
        self.declared.append(queue.name)
        self.bound.set()
        return queue


class AioPikaFlavor:
    name = "aiopika"

    def __init__(self, amqp_url: str) -> None:
        self._url = amqp_url
        self._queues: dict[str, list[str]] = {}

    def manager(self, channel: str, *, write_only: bool = False) -> Any:
        manager = _RecordingAioPika(self._url, channel=channel, write_only=write_only)
        self._queues.setdefault(channel, [])
        manager.channel_name = channel
        _counting(manager)
        return manager

    async def listening(self, manager: Any, listeners: int) -> None:
        await asyncio.wait_for(manager.bound.wait(), 20)

    def emits_handled(self, manager: Any) -> int:
        return int(manager.emits_seen)

    async def close(self, manager: Any) -> None:
        await _stop_listener(manager)
        self._queues[manager.channel_name].extend(manager.declared)
        if manager.publisher_connection is not None:
            await manager.publisher_connection.close()

    async def cleanup(self, channel: str) -> None:
        # Its queues are not exclusive (x-expires 5 min): deleted here, or they pile up.
        connection = await aio_pika.connect(self._url)
        async with connection:
            ch = await connection.channel()
            for queue in self._queues.pop(channel, []):
                await ch.queue_delete(queue)
            await ch.exchange_delete(channel)


class RedisFlavor:
    name = "redis"

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url

    def manager(self, channel: str, *, write_only: bool = False) -> Any:
        manager = socketio.AsyncRedisManager(self._url, channel=channel, write_only=write_only)
        _counting(manager)
        return manager

    async def listening(self, manager: Any, listeners: int) -> None:
        # Its SUBSCRIBE is sent from a background task with no signal when Redis took it:
        # poll the channel's subscriber count.
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._url)

        async def subscribed() -> bool:
            counts = await client.pubsub_numsub(manager.channel)
            return bool(counts) and int(counts[0][1]) >= listeners

        try:
            await eventually(subscribed)
        finally:
            await client.aclose()

    def emits_handled(self, manager: Any) -> int:
        return int(manager.emits_seen)

    async def close(self, manager: Any) -> None:
        await _stop_listener(manager)
        for resource in (manager.pubsub, manager.redis):
            if resource is not None:
                with contextlib.suppress(Exception):
                    await resource.aclose()

    async def cleanup(self, channel: str) -> None:
        """Redis pub/sub channels leave no keys behind."""


async def _stop_listener(manager: Any) -> None:
    task = getattr(manager, "thread", None)
    if isinstance(task, asyncio.Task):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


Factory = Callable[[], Awaitable[Flavor]]
