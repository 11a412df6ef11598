"""The caller's futures: one per call, answered once, late replies dropped and counted."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from eventwire.calls import Caller
from eventwire.errors import BrokerUnavailable, CallTimeout, SessionOffline
from eventwire.memory import MemoryBus
from eventwire.protocol import CallReply, CallRequest, Message
from eventwire.topology import QueueSpec, Topology, session_key
from tests.support.tabs import eventually


async def started_bus() -> MemoryBus:
    bus = MemoryBus(f"memory://{uuid.uuid4().hex}", Topology("unit"), max_payload=1 << 20)
    await bus.start()
    return bus


class FakeSession:
    """Stands where an edge holds session ``s1``: records requests, answers when told."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.requests: asyncio.Queue[CallRequest] = asyncio.Queue()

    async def start(self) -> None:
        inbox = await self.bus.open_inbox(QueueSpec("edge"), self._on)
        await inbox.bind(session_key("s1"))

    async def _on(self, _key: str, message: Message) -> None:
        if isinstance(message, CallRequest):
            await self.requests.put(message)

    async def answer(self, request: CallRequest, value: object) -> None:
        await self.bus.send(request.reply_to, CallReply(id=request.id, ok=True, value=value))


async def test_a_reply_resolves_its_own_call_only() -> None:
    bus = await started_bus()
    session = FakeSession(bus)
    await session.start()
    caller = Caller(bus, "p1")
    await caller.start()
    first = asyncio.create_task(
        caller.call(user_id="u", session_id="s1", payload={"n": 1}, timeout=10)
    )
    second = asyncio.create_task(
        caller.call(user_id="u", session_id="s1", payload={"n": 2}, timeout=10)
    )
    one, two = await session.requests.get(), await session.requests.get()
    assert caller.pending == 2
    await session.answer(two, "second")
    assert await second == "second"
    assert not first.done()
    await session.answer(one, "first")
    assert await first == "first"
    assert caller.pending == 0
    await caller.close()
    await bus.close()


async def test_a_reply_after_the_timeout_is_dropped_and_counted() -> None:
    bus = await started_bus()
    session = FakeSession(bus)
    await session.start()
    caller = Caller(bus, "p1")
    await caller.start()
    with pytest.raises(CallTimeout):
        await caller.call(user_id="u", session_id="s1", payload={}, timeout=0.05)
    request = await session.requests.get()
    assert caller.pending == 0
    await session.answer(request, "too late")
    unknown = CallReply(id="never-asked", ok=True, value=None)
    await bus.send(bus.topology.reply_queue("p1").name, unknown)
    await eventually(lambda: caller.late_replies == 2)
    await caller.close()
    await bus.close()


async def test_no_session_is_offline_at_once_and_a_lost_broker_fails_what_waits() -> None:
    bus = await started_bus()
    session = FakeSession(bus)
    await session.start()
    caller = Caller(bus, "p1")
    await caller.start()
    with pytest.raises(SessionOffline):
        await caller.call(user_id="u", session_id="nobody", payload={}, timeout=10)
    waiting = asyncio.create_task(caller.call(user_id="u", session_id="s1", payload={}, timeout=10))
    await session.requests.get()
    await caller.close()  # closing fails every pending call, as a lost connection does
    with pytest.raises(BrokerUnavailable):
        await waiting
    await bus.close()
