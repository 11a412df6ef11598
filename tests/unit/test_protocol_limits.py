"""Every message off the wire is checked against AMQP's limits before anything uses it."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from eventwire import codec
from eventwire.errors import ProtocolError
from eventwire.protocol import CallRequest, Emit
from eventwire.topology import MAX_KEY_BYTES, session_key, task_key, user_key

LONG = "x" * 300
WIDE = "é" * 128  # 128 characters, 256 bytes: the limit is in bytes


def body(**fields: Any) -> bytes:
    return msgpack.packb({"v": codec.VERSION, **fields}, use_bin_type=True)


JOB = {
    "kind": "job",
    "id": "j1",
    "type": "completion",
    "plugin": "p",
    "body": {},
    "user": {"id": "u"},
}
CALL = {
    "kind": "call",
    "id": "c1",
    "user_id": "u",
    "session_id": "s",
    "payload": {},
    "timeout": 5.0,
    "reply_to": "q",
}


@pytest.mark.parametrize(
    "fields",
    [
        {**JOB, "id": LONG},
        {**JOB, "id": WIDE},
        {**JOB, "user": {"id": LONG}},
        {**JOB, "session_id": LONG},
        {**JOB, "chat_id": LONG},
        {**CALL, "session_id": LONG},
        {**CALL, "reply_to": LONG},
        {**CALL, "id": LONG},
        {**CALL, "user_id": ""},
        {"kind": "emit", "user_id": LONG, "payload": {}},
        {"kind": "emit", "user_id": "u", "payload": {}, "event": LONG},
        {"kind": "cancel", "id": "c", "session_id": LONG},
        {"kind": "stop", "id": "s", "task_id": LONG, "user_id": "u", "reply_to": "q"},
        {"kind": "channel", "channel_id": LONG, "payload": {}},
        {"kind": "presence.sync", "reply_to": LONG},
        {"kind": "presence.beat", "node_id": LONG, "incarnation": "i", "seq": 1},
        {"kind": "list_models", "id": "m", "reply_to": LONG},
    ],
    ids=lambda f: f"{f['kind']}",
)
def test_over_long_ids_fail_to_decode_as_protocol_errors(fields: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        codec.decode(body(**fields))


def test_the_reason_names_the_field_and_the_limit() -> None:
    with pytest.raises(ProtocolError, match=r"id: .*250-byte limit"):
        codec.decode(body(**{**JOB, "id": LONG}))


def test_ids_as_long_as_their_routing_keys_allow_decode() -> None:
    sid = "s" * (MAX_KEY_BYTES - len(session_key("x")) + 1)
    assert len(session_key(sid).encode()) == MAX_KEY_BYTES
    message = codec.decode(body(**{**CALL, "session_id": sid}))
    assert isinstance(message, CallRequest) and message.session_id == sid
    uid = "u" * (MAX_KEY_BYTES - len(user_key("x")) + 1)
    assert isinstance(codec.decode(body(kind="emit", user_id=uid, payload={})), Emit)
    tid = "t" * (MAX_KEY_BYTES - len(task_key("x")) + 1)
    assert codec.decode(body(**{**JOB, "id": tid})).kind == "job"


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 1e9, 0.0, -1.0])
def test_call_timeouts_off_the_wire_are_bounded(timeout: float) -> None:
    with pytest.raises(ProtocolError):
        codec.decode(body(**{**CALL, "timeout": timeout}))
