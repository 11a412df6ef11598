"""The manager's keys and argument conventions, and its messages through the codec."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventwire import codec
from eventwire.protocol import SioCall, SioEmit, SioRoomOp
from eventwire.sio_wire import as_args, as_data, result_of, rooms_of, skips_of
from eventwire.topology import MAX_KEY_BYTES, sio_all_key, sio_room_key

names = st.text(min_size=0, max_size=400)


def test_readable_keys_for_usual_names() -> None:
    assert sio_all_key("/") == "sio.all./"
    assert sio_room_key("/", "user:42") == "sio.room./.user:42"
    assert sio_room_key("/chat.v2", "r") == "sio.room./chat%2Ev2.r"


@given(names, names)
def test_keys_fit_in_an_amqp_routing_key(namespace: str, room: str) -> None:
    assert 0 < len(sio_room_key(namespace, room).encode()) <= MAX_KEY_BYTES
    assert len(sio_all_key(namespace).encode()) <= MAX_KEY_BYTES


@given(names, names, names, names)
def test_distinct_pairs_get_distinct_keys(ns1: str, r1: str, ns2: str, r2: str) -> None:
    if (ns1, r1) != (ns2, r2):
        assert sio_room_key(ns1, r1) != sio_room_key(ns2, r2)


def test_dots_in_namespaces_cannot_shift_the_boundary() -> None:
    assert sio_room_key("/a.b", "c") != sio_room_key("/a", "b.c")
    assert sio_room_key("/a%2Eb", "c") != sio_room_key("/a.b", "c")


def test_a_room_named_like_a_hash_is_hashed_too() -> None:
    hashed = sio_room_key("/", "x" * 300).split(".", 3)[3]
    assert sio_room_key("/", hashed) != sio_room_key("/", "x" * 300)


@pytest.mark.parametrize(
    "data",
    [None, "text", 0, [1, 2], {"k": "v"}, ("a", 1), (None,), (), b"\x00bin", ([1],)],
)
def test_arguments_round_trip_as_python_socketio_expands_them(data: Any) -> None:
    assert as_args(as_data(as_args(data))) == as_args(data)


def test_targets_and_skips() -> None:
    assert rooms_of(None) is None
    assert rooms_of("r") == ["r"]
    assert rooms_of(["a", "b", "a"]) == ["a", "b"]
    with pytest.raises(TypeError):
        rooms_of([1])
    assert skips_of(None) == []
    assert skips_of("s") == ["s"]
    assert skips_of(["s", None]) == ["s"]
    assert result_of(()) is None
    assert result_of(("one",)) == "one"
    assert result_of(["a", "b"]) == ("a", "b")


def test_messages_survive_the_codec_with_binary_arguments() -> None:
    messages = [
        SioEmit(host="h", namespace="/", event="e", args=[b"\x01", {"k": [1.5]}], rooms=["r"]),
        SioCall(id="c", namespace="/", event="e", args=[], room="sid", reply_to="q", timeout=2),
        SioRoomOp(op="enter", host="h", namespace="/", room="r", sid="s", id="c", reply_to="q"),
    ]
    for message in messages:
        assert codec.decode(codec.encode(message)) == message
