"""eventwire's marshalling of the mailbox methods writes the bytes pamqp writes."""

from __future__ import annotations

from typing import Any

import pytest
from aiormq.abc import ChannelFrame
from pamqp import commands as spec

from eventwire.amqp.methods import MailboxMethods, delete

ARGUMENTS: dict[str, Any] = {
    "x-expires": 120_000,
    "x-max-length": 1000,
    "x-max-length-bytes": 10 * 2**20,
    "x-overflow": "drop-head",
    "x-big": 2**40,
    "x-flag": True,
}


def pamqp_bytes(channel: int, frames: list[Any]) -> bytes:
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload  # type: ignore[return-value]


@pytest.mark.parametrize("arguments", [ARGUMENTS, {}, None])
@pytest.mark.parametrize("keys", [[], ["u.someone"], ["s.sid-1", "u.user-é"]])
@pytest.mark.parametrize("durable", [True, False])
def test_an_attach_is_marshalled_as_pamqp_does(
    arguments: dict[str, Any] | None, keys: list[str], durable: bool
) -> None:
    queue, exchange, tag = "ew.mb.ns.sid-abc", "ns.events", "mb3.17"
    expected = pamqp_bytes(
        7,
        [
            spec.Queue.Declare(queue=queue, durable=durable, arguments=arguments, nowait=True),
            *(
                spec.Queue.Bind(queue=queue, exchange=exchange, routing_key=key, nowait=True)
                for key in keys
            ),
            spec.Basic.Consume(queue=queue, consumer_tag=tag, nowait=True),
        ],
    )
    got = MailboxMethods(arguments).attach(
        7, queue, durable=durable, exchange=exchange, keys=keys, consumer_tag=tag
    )
    assert got == expected


@pytest.mark.parametrize("tag", ["mb1.1", None])
@pytest.mark.parametrize("queue", ["ew.mb.ns.sid", "q" * 255])
def test_a_deletion_is_marshalled_as_pamqp_does(tag: str | None, queue: str) -> None:
    frames: list[Any] = [spec.Queue.Delete(queue=queue, nowait=True)]
    if tag is not None:
        frames.insert(0, spec.Basic.Cancel(consumer_tag=tag, nowait=True))
    assert delete(65535, queue, tag) == pamqp_bytes(65535, frames)


def test_a_name_over_255_bytes_is_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="over 255 bytes"):
        delete(1, "é" * 128, None)
    with pytest.raises(ValueError, match="over 255 bytes"):
        MailboxMethods(None).attach(
            1, "q", durable=True, exchange="x", keys=["k" * 256], consumer_tag="t"
        )
