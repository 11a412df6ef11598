"""One timer fails what the broker left unconfirmed past the deadline, and nothing else."""

from __future__ import annotations

import asyncio

import pytest

from eventwire.amqp.deadlines import ConfirmDeadlines


async def test_an_unconfirmed_publish_fails_at_its_deadline_and_settled_ones_are_left() -> None:
    deadlines = ConfirmDeadlines(0.05)
    loop = asyncio.get_running_loop()
    confirmed, late = loop.create_future(), loop.create_future()
    deadlines.watch(confirmed)
    deadlines.watch(late)
    confirmed.set_result("ack")
    with pytest.raises(TimeoutError):
        await late
    assert confirmed.result() == "ack"
    assert len(deadlines) == 0


async def test_settled_confirmations_do_not_pile_up() -> None:
    deadlines = ConfirmDeadlines(60.0)
    loop = asyncio.get_running_loop()
    for _ in range(1000):
        confirmation = loop.create_future()
        deadlines.watch(confirmation)
        confirmation.set_result(None)
    assert len(deadlines) == 1  # the last one; the others were dropped as new ones came
    deadlines.close()


async def test_a_later_publish_is_failed_only_at_its_own_deadline() -> None:
    deadlines = ConfirmDeadlines(0.2)
    loop = asyncio.get_running_loop()
    first = loop.create_future()
    deadlines.watch(first)
    await asyncio.sleep(0.1)
    second = loop.create_future()
    deadlines.watch(second)
    with pytest.raises(TimeoutError):
        await first
    assert not second.done()  # its deadline is still ahead
    with pytest.raises(TimeoutError):
        await second
