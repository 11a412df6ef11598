"""An AMQP inbox restores exactly the bindings it still wants when its connection comes back."""

from __future__ import annotations

from typing import Any

from eventwire.amqp.bus import AmqpInbox
from eventwire.protocol import Message
from eventwire.topology import QueueSpec
from tests.support.tabs import eventually


class FakeQueue:
    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.name = "q"
        self._log = log

    async def bind(self, _exchange: Any, key: str) -> None:
        self._log.append(("bind", key))

    async def unbind(self, _exchange: Any, key: str) -> None:
        self._log.append(("unbind", key))

    async def cancel(self, _tag: str) -> None:
        self._log.append(("cancel", _tag))


class FakeUnderlay:
    async def basic_consume(self, *_args: Any, **_kw: Any) -> Any:
        class Ok:
            consumer_tag = "tag"

        return Ok()


class FakeChannel:
    """The parts of an aio-pika channel ``AmqpInbox.attach`` uses, recording binds."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    async def declare_queue(self, *_args: Any, **_kw: Any) -> FakeQueue:
        return FakeQueue(self.log)

    async def get_underlay_channel(self) -> FakeUnderlay:
        return FakeUnderlay()


async def ignore(_key: str, _message: Message) -> None:
    pass


async def test_reattach_rebinds_what_is_wanted_and_unbinds_what_was_released() -> None:
    inbox = AmqpInbox(QueueSpec("q", durable=True), ignore)
    first = FakeChannel()
    await inbox.attach(first, exchange=object())  # type: ignore[arg-type]
    await inbox.bind("user.a")
    await inbox.bind("user.b")
    assert first.log == [("bind", "user.a"), ("bind", "user.b")]
    inbox.detach()  # the connection dropped
    await inbox.unbind("user.a")  # released while disconnected: not on the broker yet
    await inbox.bind("user.c")  # wanted while disconnected
    second = FakeChannel()
    await inbox.attach(second, exchange=object())  # type: ignore[arg-type]
    assert ("unbind", "user.a") in second.log
    assert sorted(k for op, k in second.log if op == "bind") == ["user.b", "user.c"]
    await inbox.close(delete=False)


class FakeAckChannel:
    def __init__(self) -> None:
        self.is_closed = False
        self.acks: list[tuple[int, bool]] = []

    async def basic_ack(self, tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.acks.append((tag, multiple))


class FakeDelivered:
    def __init__(self, channel: FakeAckChannel, tag: int, body: bytes) -> None:
        self.channel = channel
        self.delivery_tag = tag
        self.body = body
        self.routing_key = "user.a"


async def test_an_acked_inbox_acks_once_its_backlog_is_handled() -> None:
    from eventwire import codec
    from eventwire.protocol import Emit

    handled: list[str] = []

    async def handle(_key: str, message: Message) -> None:
        assert isinstance(message, Emit)
        handled.append(message.user_id)

    inbox = AmqpInbox(QueueSpec("q", durable=True, acked=True), handle)
    channel = FakeAckChannel()
    for tag in (1, 2, 3):  # arrive together: one ack covers them
        body = codec.encode(Emit(user_id=f"u{tag}", payload={}))
        inbox._receive(FakeDelivered(channel, tag, body))  # type: ignore[arg-type]
    await eventually(lambda: channel.acks)
    assert handled == ["u1", "u2", "u3"]
    assert channel.acks == [(3, True)]
    await inbox.close(delete=False)
