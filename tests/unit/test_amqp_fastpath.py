"""eventwire's fast basic.publish writes exactly the bytes aiormq / pamqp would."""

from __future__ import annotations

import asyncio

import aiormq
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
        assert isinstance(fast[2], type(slow[2]))
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


def _frames(*frames: tuple[object, int]) -> asyncio.StreamReader:
    import pamqp.frame

    reader = asyncio.StreamReader()
    for frame, channel in frames:
        reader.feed_data(pamqp.frame.marshal(frame, channel))  # type: ignore[arg-type]
    reader.feed_eof()
    return reader


def _delivery(tag: int, body: bytes) -> list[object]:
    properties = spec.Basic.Properties(content_type="application/msgpack", message_id=f"m{tag}")
    return [
        spec.Basic.Deliver(
            consumer_tag="ctag", delivery_tag=tag, exchange="ns.events", routing_key="user.a"
        ),
        ContentHeader(properties=properties, body_size=len(body)),
        *([ContentBody(body)] if body else []),
    ]


async def _all(reader: asyncio.StreamReader) -> list[tuple[int, object]]:
    from eventwire.amqp.fastpath import FastFrameReceiver

    receiver = FastFrameReceiver(reader)
    receiver.started = True
    return [(channel, frame) async for _weight, channel, frame in receiver]


async def test_a_delivery_comes_out_whole_with_other_channels_frames_passing_through() -> None:
    first, second = _delivery(1, b"abc"), _delivery(2, b"")
    ack = spec.Basic.Ack(delivery_tag=9)
    got = await _all(
        _frames((first[0], 5), (ack, 3), (first[1], 5), (first[2], 5), *((f, 5) for f in second))
    )
    assert [channel for channel, _ in got] == [3, 5, 5]
    assert isinstance(got[0][1], spec.Basic.Ack)
    for (_, deliver), tag, body in ((got[1], 1, b"abc"), (got[2], 2, b"")):
        assert isinstance(deliver, spec.Basic.Deliver)
        assert deliver.delivery_tag == tag
        assert deliver.body == body  # type: ignore[attr-defined]
        assert deliver.header.properties.message_id == f"m{tag}"  # type: ignore[attr-defined]


async def test_a_delivery_broken_off_gives_its_frames_back_in_order() -> None:
    first = _delivery(1, b"abc")
    close = spec.Channel.Close(
        reply_code=406, reply_text="PRECONDITION_FAILED", class_id=0, method_id=0
    )
    got = await _all(_frames((first[0], 5), (first[1], 5), (close, 5)))
    kinds = [type(frame).__name__ for _, frame in got]
    assert kinds == ["AssembledDeliver", "ContentHeader", "Close"]
    assert got[0][1].header is None  # type: ignore[attr-defined]  # a plain deliver


async def test_a_body_over_several_frames_is_joined() -> None:
    deliver, header, _ = _delivery(1, b"abcdef")
    got = await _all(
        _frames((deliver, 5), (header, 5), (ContentBody(b"abc"), 5), (ContentBody(b"def"), 5))
    )
    assert len(got) == 1
    assert got[0][1].body == b"abcdef"  # type: ignore[attr-defined]


@pytest.mark.parametrize("multiple", [False, True])
def test_confirms_unmarshal_as_pamqp_does(multiple: bool) -> None:
    import pamqp.frame

    from eventwire.amqp.fastpath import unmarshal

    raw = pamqp.frame.marshal(spec.Basic.Ack(delivery_tag=2**33 + 5, multiple=multiple), 2)
    fast, slow = unmarshal(raw), pamqp.frame.unmarshal(raw)
    assert fast[:2] == slow[:2]
    assert type(fast[2]) is type(slow[2]) is spec.Basic.Ack
    assert (fast[2].delivery_tag, fast[2].multiple) == (slow[2].delivery_tag, multiple)


@pytest.mark.parametrize("multiple", [False, True])
def test_acks_are_marshalled_as_pamqp_does(multiple: bool) -> None:
    from eventwire.amqp.fastpath import marshal_ack

    frame = spec.Basic.Ack(delivery_tag=2**40 + 3, multiple=multiple)
    expected = ChannelFrame.marshall(channel_number=4, frames=[frame]).payload  # type: ignore[list-item]
    assert marshal_ack(4, 2**40 + 3, multiple) == expected


@pytest.mark.parametrize("queue", ["ew.mailbox.abc", "", "q" * 255])
def test_passive_declares_are_marshalled_as_pamqp_does(queue: str) -> None:
    from eventwire.amqp.fastpath import marshal_passive_declare

    frame = spec.Queue.Declare(queue=queue, passive=True)
    expected = ChannelFrame.marshall(channel_number=9, frames=[frame]).payload  # type: ignore[list-item]
    assert marshal_passive_declare(9, queue) == expected


async def test_marshalled_methods_wait_for_room_in_the_writer_queue_not_on_closed_channels() -> (
    None
):
    from eventwire.amqp.fastpath import FastChannel

    class Open(FastChannel):
        is_closed = False  # type: ignore[assignment]

    channel = Open.__new__(Open)  # only what send_marshalled reads
    channel.write_queue = asyncio.Queue(maxsize=1)  # type: ignore[misc]
    await channel.send_marshalled(b"first")
    second = asyncio.ensure_future(channel.send_marshalled(b"second"))
    await asyncio.sleep(0)  # one loop turn: it runs until the full queue stops it
    assert not second.done()
    assert channel.write_queue.get_nowait().payload == b"first"
    await second
    assert channel.write_queue.get_nowait().payload == b"second"
    Open.is_closed = True  # type: ignore[assignment]
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await channel.send_marshalled(b"third")
    assert channel.write_queue.empty()


@pytest.mark.parametrize("expiration", [None, "30000"])
def test_own_properties_marshal_as_pamqps_do(expiration: str | None) -> None:
    from eventwire.amqp.fastpath import OwnProperties, marshal_publish

    own = OwnProperties("application/msgpack", 1, expiration)
    own.message_id = "0123456789abcdef"
    frames = [
        marshal_publish(
            2,
            exchange="ns.events",
            routing_key="user.a",
            mandatory=True,
            properties=props,
            body=b"\x80",
        )
        for props in (own, own.pamqp())
    ]
    assert frames[0] == frames[1]
