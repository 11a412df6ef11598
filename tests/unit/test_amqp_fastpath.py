"""eventwire's fast basic.publish writes exactly the bytes aiormq / pamqp would."""

from __future__ import annotations

import pytest
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from eventwire.amqp.fastpath import marshal_publish


@pytest.mark.parametrize("mandatory", [False, True])
@pytest.mark.parametrize("expiration", [None, "30000"])
@pytest.mark.parametrize("body", [b"", b"\x82\xa1v\x01", bytes(range(256)) * 40])
def test_the_frames_are_pamqps(mandatory: bool, expiration: str | None, body: bytes) -> None:
    properties = spec.Basic.Properties(
        content_type="application/msgpack",
        delivery_mode=1,
        expiration=expiration,
        message_id="0123456789abcdef0123456789abcdef",
    )
    frames: list[object] = [
        spec.Basic.Publish(exchange="ns.events", routing_key="user.alice", mandatory=mandatory),
        ContentHeader(properties=properties, body_size=len(body)),
    ]
    if body:
        frames.append(ContentBody(body))
    expected = ChannelFrame.marshall(channel_number=3, frames=frames).payload  # type: ignore[arg-type]
    got = marshal_publish(
        3,
        exchange="ns.events",
        routing_key="user.alice",
        mandatory=mandatory,
        properties=properties,
        body=body,
    )
    assert got == expected
