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


@pytest.mark.parametrize("redelivered", [False, True])
@pytest.mark.parametrize("expiration", [None, "1500"])
def test_deliveries_unmarshal_as_pamqp_does(redelivered: bool, expiration: str | None) -> None:
    import pamqp.frame

    from eventwire.amqp.fastpath import unmarshal

    properties = spec.Basic.Properties(
        content_type="application/msgpack",
        delivery_mode=1,
        expiration=expiration,
        message_id="m-1",
    )
    frames = [
        spec.Basic.Deliver(
            consumer_tag="ctag-1.2",
            delivery_tag=2**40 + 7,
            redelivered=redelivered,
            exchange="ns.events",
            routing_key="session.abc",
        ),
        ContentHeader(properties=properties, body_size=3),
        ContentBody(b"abc"),
    ]
    for frame in frames:
        raw = pamqp.frame.marshal(frame, 5)  # type: ignore[arg-type]
        fast, slow = unmarshal(raw), pamqp.frame.unmarshal(raw)
        assert (fast[0], fast[1]) == (slow[0], slow[1]) == (len(raw), 5)
        assert type(fast[2]) is type(slow[2])
        for attr in (
            "consumer_tag",
            "delivery_tag",
            "redelivered",
            "exchange",
            "routing_key",
            "weight",
            "body_size",
            "value",
        ):
            assert getattr(fast[2], attr, None) == getattr(slow[2], attr, None), attr
        if isinstance(slow[2], ContentHeader):
            assert dict(fast[2].properties) == dict(slow[2].properties)


def test_other_headers_take_pamqps_path() -> None:
    import pamqp.frame

    from eventwire.amqp.fastpath import unmarshal

    header = ContentHeader(
        properties=spec.Basic.Properties(headers={"x-death": [1]}, correlation_id="c"),
        body_size=0,
    )
    raw = pamqp.frame.marshal(header, 1)  # type: ignore[arg-type]
    assert dict(unmarshal(raw)[2].properties) == dict(pamqp.frame.unmarshal(raw)[2].properties)
