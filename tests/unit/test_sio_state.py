"""The manager's bookkeeping: which keys a server binds, and the calls it serves."""

from __future__ import annotations

from eventwire.protocol import CallReply, SioCall
from eventwire.topology import sio_all_key, sio_room_key
from eventwire_edge.sio.rooms import RoomKeys
from eventwire_edge.sio.serving import Serving
from tests.support.tabs import eventually


class RecordingInbox:
    """Records binds and unbinds (routing itself is tested on the broker)."""

    name = "inbox"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def bind(self, key: str) -> None:
        self.calls.append(("bind", key))

    async def unbind(self, key: str) -> None:
        self.calls.append(("unbind", key))


async def test_a_key_is_bound_once_while_its_room_has_members() -> None:
    table: dict[str, dict[str | None, set[str]]] = {"/": {None: {"s1"}, "room": {"s1"}}}
    inbox = RecordingInbox()
    keys = RoomKeys(inbox, lambda ns, room: bool(table.get(ns, {}).get(room)))

    await keys.sync("/", None, "room")
    await keys.sync("/", "room")  # a second member: nothing new to bind
    del table["/"]["room"]
    await keys.sync("/", "room")
    await keys.sync("/", "room")  # already gone: no second unbind

    assert inbox.calls == [
        ("bind", sio_all_key("/")),
        ("bind", sio_room_key("/", "room")),
        ("unbind", sio_room_key("/", "room")),
    ]
    assert keys.bound == {sio_all_key("/")}


def _call(call_id: str = "c1", timeout: float | None = None) -> SioCall:
    return SioCall(
        id=call_id, namespace="/", event="ask", args=[], room="s1", reply_to="q", timeout=timeout
    )


async def test_serving_answers_once_and_fails_a_call_whose_target_left() -> None:
    sent: list[tuple[str, CallReply]] = []

    async def send(reply_to: str, reply: CallReply) -> None:
        sent.append((reply_to, reply))

    serving = Serving(send)
    serving.open(_call("answered"), ["s1"])
    serving.open(_call("left"), ["s2"])
    serving.open(_call("cancelled"), ["s2"])
    serving.cancel("cancelled")

    await serving.answer("answered")({"ok": 1})
    await serving.answer("answered")({"ok": 2})  # late: dropped
    await serving.left("s2")

    assert [(r.id, r.ok, r.value, r.error) for _, r in sent] == [
        ("answered", True, [{"ok": 1}], None),
        ("left", False, None, "client_disconnected"),
    ]
    assert len(serving) == 0


async def test_serving_forgets_a_call_when_its_caller_has_given_up() -> None:
    sent: list[CallReply] = []

    async def send(_reply_to: str, reply: CallReply) -> None:
        sent.append(reply)

    serving = Serving(send)
    serving.open(_call(timeout=0.01), ["s1"])
    await eventually(lambda: len(serving) == 0)  # its timer, not a sleep of ours

    await serving.answer("c1")("too late")
    assert sent == []
