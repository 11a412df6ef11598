"""The in-process bus drops a message whose TTL passed while it waited (RabbitMQ: wire test)."""

from __future__ import annotations

import asyncio

import pytest

from eventwire.memory import MemoryBus
from eventwire.memory import bus as memory_bus
from eventwire.protocol import Emit, Message
from eventwire.topology import QueueSpec, Topology


async def test_expired_messages_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(memory_bus.time, "monotonic", lambda: now[0])
    bus = MemoryBus("memory://ttl", Topology("unit"), max_payload=1 << 20)
    await bus.start()
    release = asyncio.Event()
    seen: asyncio.Queue[Message] = asyncio.Queue()

    async def slow(_key: str, message: Message) -> None:
        await seen.put(message)
        await release.wait()

    inbox = await bus.open_inbox(QueueSpec("q"), slow)
    await inbox.bind("k")
    await bus.publish("k", Emit(user_id="1", payload={}))
    await bus.publish("k", Emit(user_id="2", payload={}), ttl=5)
    await bus.publish("k", Emit(user_id="3", payload={}), ttl=50)
    first = await asyncio.wait_for(seen.get(), 5)
    now[0] += 10  # the second message's TTL passes while the first is handled
    release.set()
    following = await asyncio.wait_for(seen.get(), 5)
    assert [first.user_id, following.user_id] == ["1", "3"]  # type: ignore[union-attr]
    await bus.close()


async def test_urls_and_namespaces_isolate() -> None:
    one = MemoryBus("memory://iso-1", Topology("unit"), max_payload=1 << 20)
    two = MemoryBus("memory://iso-2", Topology("unit"), max_payload=1 << 20)
    await one.start()
    await two.start()
    from eventwire.errors import Unroutable

    inbox = await one.open_inbox(QueueSpec("q"), lambda k, m: asyncio.sleep(0))
    await inbox.bind("k")
    with pytest.raises(Unroutable):
        await two.publish("k", Emit(user_id="x", payload={}), mandatory=True)
    await one.close()
    await two.close()
