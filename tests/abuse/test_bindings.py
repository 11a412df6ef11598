"""A socket binding a thousand channels does not hold up another socket's connect (item 11).

The broker is replaced by an inbox whose channel binds hang until released, so "the connect
went through while the big join was still binding" is an ordering fact, not a timing.
"""

from __future__ import annotations

import asyncio

from eventwire_edge.bindings import Bindings

WAIT = 20.0


class GatedInbox:
    """Binds of ``channel.*`` keys wait for ``release``; every other key binds at once."""

    name = "gated"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.stuck = asyncio.Event()  # a channel bind is waiting at the "broker"
        self.bound: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def bind(self, key: str) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if key.startswith("channel."):
                self.stuck.set()
                await self.release.wait()
            self.bound.append(key)
        finally:
            self.in_flight -= 1

    async def unbind(self, key: str) -> None:
        self.bound.remove(key)


async def test_a_connect_binds_while_a_big_join_is_still_binding() -> None:
    inbox = GatedInbox()
    bindings = Bindings(inbox)
    channels = [f"channel.c{i}" for i in range(1000)]
    join = asyncio.create_task(bindings.acquire(*channels))
    async with asyncio.timeout(WAIT):
        await inbox.stuck.wait()  # the join is binding, stuck at the broker

    async with asyncio.timeout(WAIT):  # safety net: today it waits for the whole join
        await bindings.acquire("session.s2", "user.bob")
    assert {"session.s2", "user.bob"} <= bindings.keys
    assert not join.done()

    inbox.release.set()
    await join
    assert bindings.keys == {"session.s2", "user.bob", *channels}
    # In batches: never the whole join in flight at once, so a connect queues behind a batch.
    assert 1 < inbox.most_in_flight <= 64


async def test_release_and_acquire_of_one_key_keep_their_order() -> None:
    inbox = GatedInbox()
    bindings = Bindings(inbox)
    await bindings.acquire("user.a")
    await asyncio.gather(bindings.release("user.a"), bindings.acquire("user.a"))
    assert bindings.count("user.a") == 1
    assert bindings.keys == {"user.a"}
    assert inbox.bound == ["user.a"]
    await bindings.release("user.a")
    assert bindings.keys == frozenset() and inbox.bound == []
