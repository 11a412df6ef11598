"""Client packets as the edge decodes them: every malformation is one ``MalformedPacket``."""

from __future__ import annotations

import pytest

from eventwire_edge.wire import MalformedPacket, packet_class

Packet = packet_class(max_depth=8)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "2[",
        "2{}",
        "2[]",
        '2"abc"',
        "2[1]",
        '2["disconnect"]',
        '2["connect",{}]',
        "3",
        '31"x"',
        "4{}",  # CONNECT_ERROR: the server's, never a client's
        "7[]",
        '0"token"',
        '2["x",NaN]',
        '2["x",' + "[" * 20 + "]" * 20 + "]",
    ],
)
def test_malformed_packets_raise_one_error(encoded: str) -> None:
    with pytest.raises(MalformedPacket):
        Packet(encoded_packet=encoded)


@pytest.mark.parametrize(
    ("encoded", "kind", "data"),
    [
        ('2["usage",{"model":"m"}]', 2, ["usage", {"model": "m"}]),
        ('212["user-list"]', 2, ["user-list"]),
        ("31[]", 3, []),
        ('0{"token":"t"}', 0, {"token": "t"}),
        ("0", 0, None),
        ("1", 1, None),
    ],
)
def test_well_formed_packets_decode_as_python_socketio_would(
    encoded: str, kind: int, data: object
) -> None:
    pkt = Packet(encoded_packet=encoded)
    assert (pkt.packet_type, pkt.data) == (kind, data)


def test_placeholders_must_name_an_attachment_that_came() -> None:
    pkt = Packet(encoded_packet='51-["blob",{"_placeholder":true,"num":1}]')
    with pytest.raises(MalformedPacket, match="names no attachment"):
        pkt.add_attachment(b"only one")
    pkt = Packet(encoded_packet='51-["blob",{"_placeholder":true,"num":0}]')
    assert pkt.add_attachment(b"ok")
    assert pkt.data == ["blob", b"ok"]


def test_outgoing_packets_never_carry_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        Packet(2, data=["events", {"x": float("inf")}]).encode()
