"""The edge's own event encoding writes exactly what python-socketio's emit would."""

from __future__ import annotations

import math
from typing import Any

import pytest
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from eventwire_edge.fastemit import encode_event
from eventwire_edge.wire import packet_class

PAYLOADS: list[Any] = [
    {"type": "status", "data": {"description": "Searching", "done": False}},
    {"type": "chat:message:delta", "data": {"content": 'héllo ✓ \u2028 "quoted" \\ 😀'}},
    {"nested": [1, 2.5, None, True, {"k": [[]]}], "big": 2**63 - 1, "neg": -(2**63)},
    {},
]


def _python_socketio(event: str, args: tuple[Any, ...]) -> Any:
    packet = packet_class(64)(sio_packet.EVENT, namespace="/", data=[event, *args])
    return packet.encode()


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("extra", [(), ("1733-0",)])
def test_the_text_is_python_socketios(payload: Any, extra: tuple[Any, ...]) -> None:
    args = (payload, *extra)
    text = encode_event("events", args)
    assert text == _python_socketio("events", args)
    # and as Engine.IO frames it, byte for byte
    assert eio_packet.Packet(eio_packet.MESSAGE, text).encode() == "4" + text


def test_binary_arguments_are_left_to_python_socketio() -> None:
    assert encode_event("events", ({"file": b"\x00\x01"},)) is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        encode_event("events", ({"x": value},))
