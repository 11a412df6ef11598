from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventwire import codec
from eventwire.errors import PayloadTooLarge, ProtocolError
from eventwire.protocol import CallCancel, CallReply, CallRequest, Emit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    user=st.text(min_size=1, max_size=60),
)
def test_emit_round_trips(payload: dict[str, object], user: str) -> None:
    message = Emit(user_id=user, payload=payload)
    assert codec.decode(codec.encode(message)) == message


@pytest.mark.parametrize(
    "message",
    [
        CallRequest(
            id="c1", user_id="u", session_id="s", payload={"a": 1}, timeout=1.5, reply_to="q"
        ),
        CallCancel(id="c1", session_id="s"),
        CallReply(id="c1", ok=False, error="timeout", message="late"),
        CallReply(id="c1", ok=True, value=[1, {"x": None}]),
    ],
)
def test_every_kind_round_trips(message: object) -> None:
    assert codec.decode(codec.encode(message)) == message  # type: ignore[arg-type]


def test_body_carries_a_version_and_no_pickle() -> None:
    raw = msgpack.unpackb(codec.encode(CallCancel(id="x", session_id="s")))
    assert raw == {"v": codec.VERSION, "kind": "cancel", "id": "x", "session_id": "s"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xc1", "undecodable"),
        (msgpack.packb([1, 2]), "not a map"),
        (msgpack.packb({"v": 99, "kind": "emit"}), "version"),
        (msgpack.packb({"v": 1, "kind": "nope"}), "malformed"),
        (msgpack.packb({"v": 1, "kind": "emit", "user_id": "u"}), "malformed"),
    ],
)
def test_bad_bodies_are_protocol_errors(body: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        codec.decode(body)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_escape_as_other_errors(body: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        codec.decode(body)


def test_size_limit() -> None:
    message = Emit(user_id="u", payload={"x": "y" * 100})
    with pytest.raises(PayloadTooLarge, match="over the 50-byte limit"):
        codec.encode(message, max_bytes=50)
    assert codec.encode(message, max_bytes=1000)


small_ints = st.integers(-(2**63), 2**64 - 1)
msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=300)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=8), small_ints, st.binary(max_size=4)), inner)
    ),
    max_leaves=20,
)
KINDS = ["emit", "call", "cancel", "reply", "job", "stop", "list_models", "channel"]
KINDS += ["presence.change", "presence.beat", "presence.snapshot", "presence.sync"]


@given(
    fields=st.dictionaries(st.text(max_size=12), msgpack_values, max_size=8),
    kind=st.sampled_from(KINDS) | st.text(max_size=10),
    version=st.sampled_from([1, 1, 1, 2, None, "1"]),
)
def test_arbitrary_msgpack_maps_never_escape_as_other_errors(
    fields: dict[str, object], kind: str, version: object
) -> None:
    body = msgpack.packb({**fields, "v": version, "kind": kind}, use_bin_type=True)
    with contextlib.suppress(ProtocolError):
        codec.decode(body)


@given(
    fields=st.dictionaries(
        st.one_of(small_ints, st.binary(max_size=4), st.booleans()), msgpack_values
    )
)
def test_maps_with_odd_keys_never_escape_as_other_errors(fields: dict[object, object]) -> None:
    body = msgpack.packb({"v": 1, "kind": "emit", "user_id": "u", "payload": fields})
    with contextlib.suppress(ProtocolError):
        codec.decode(body)


@given(st.binary(min_size=1, max_size=512))
def test_arbitrary_longer_bytes_never_escape(body: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        codec.decode(b"\x82\xa1v\x01" + body)
