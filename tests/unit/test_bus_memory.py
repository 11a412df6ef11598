"""Broker semantics of the in-process bus that have no Socket.IO side."""

from __future__ import annotations

import asyncio

import pytest

from eventwire import bus_memory
from eventwire.bus_memory import MemoryBus
from eventwire.errors import Unroutable
from eventwire.protocol import Emit, Message
from eventwire.topology import QueueSpec, Topology


async def make_bus(url: str = "memory://unit") -> MemoryBus:
    bus = MemoryBus(url, Topology("unit"), max_payload=1 << 20)
    await bus.start()
    return bus


async def test_direct_routing_and_mandatory() -> None:
    bus = await make_bus("memory://routing")
    got: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()

    async def handler(key: str, message: Message) -> None:
        await got.put((key, message))

    inbox = await bus.open_inbox(QueueSpec("q"), handler)
    await inbox.bind("user.a")
    with pytest.raises(Unroutable):
        await bus.publish("user.b", Emit(user_id="b", payload={}), mandatory=True)
    await bus.publish("user.b", Emit(user_id="b", payload={}))  # dropped silently
    await bus.publish("user.a", Emit(user_id="a", payload={"n": 1}), mandatory=True)
    key, message = await asyncio.wait_for(got.get(), 5)
    assert key == "user.a"
    assert message == Emit(user_id="a", payload={"n": 1})
    await inbox.unbind("user.a")
    with pytest.raises(Unroutable):
        await bus.publish("user.a", Emit(user_id="a", payload={}), mandatory=True)
    await bus.close()


async def test_expired_messages_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(bus_memory.time, "monotonic", lambda: now[0])
    bus = await make_bus("memory://ttl")
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
    one = await make_bus("memory://iso-1")
    two = await make_bus("memory://iso-2")
    inbox = await one.open_inbox(QueueSpec("q"), lambda k, m: asyncio.sleep(0))
    await inbox.bind("k")
    with pytest.raises(Unroutable):
        await two.publish("k", Emit(user_id="x", payload={}), mandatory=True)
    await one.close()
    await two.close()
