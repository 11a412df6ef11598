"""Socket.IO packets as the edge accepts them from clients: any malformation is one error.

python-socketio's ``Packet`` decodes leniently and leaves the rest to chance: ``42{}`` raises a
``KeyError`` deep in its event handling, ``42"abc"`` becomes event ``a`` with arguments ``b``,
``c``, a client event named ``disconnect`` runs the disconnect handler, a placeholder pointing
past the attachments raises ``IndexError``. This subclass checks every packet's shape while
decoding and raises ``MalformedPacket`` saying what is wrong; it reads and writes JSON with
the edge's rules (``jsontext``: no NaN / Infinity, bounded depth and integers).
"""

from __future__ import annotations

from typing import Any

from socketio import packet as sio_packet

from .jsontext import NotJson, StrictJson

RESERVED_EVENTS = frozenset({"connect", "disconnect"})  # the server's own, never a client's
_TYPES = range(sio_packet.CONNECT, sio_packet.BINARY_ACK + 1)


class MalformedPacket(ValueError):
    """A client packet that is not Socket.IO as the edge accepts it."""


class EdgePacket(sio_packet.Packet):  # type: ignore[misc]  # python-socketio is untyped
    json: Any = StrictJson(max_depth=64)

    def __init__(self, *args: Any, encoded_packet: Any = None, **kwargs: Any) -> None:
        if encoded_packet is not None and not encoded_packet:
            # python-socketio skips decoding an empty packet and takes it for an event
            raise MalformedPacket("an empty packet")
        super().__init__(*args, encoded_packet=encoded_packet, **kwargs)

    def decode(self, encoded_packet: Any) -> int:
        if not isinstance(encoded_packet, str) or not encoded_packet:
            raise MalformedPacket("expected a Socket.IO text packet")
        try:
            attachments: int = super().decode(encoded_packet) or 0
        except NotJson as exc:
            raise MalformedPacket(str(exc)) from None
        except (ValueError, TypeError, IndexError) as exc:
            raise MalformedPacket(f"undecodable packet: {exc}") from None
        self._check_shape()
        return attachments

    def _check_shape(self) -> None:
        kind, data = self.packet_type, self.data
        if kind not in _TYPES or kind == sio_packet.CONNECT_ERROR:
            raise MalformedPacket(f"packet type {kind!r} is not one a client sends")
        if kind == sio_packet.CONNECT and data is not None and not isinstance(data, dict):
            raise MalformedPacket("connect auth must be an object")
        if kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            if not isinstance(data, list) or not data or not isinstance(data[0], str):
                raise MalformedPacket("an event must be a list starting with its name")
            if data[0] in RESERVED_EVENTS:
                raise MalformedPacket(f"{data[0]!r} is not an event a client may send")
        if kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
            if self.id is None:
                raise MalformedPacket("an acknowledgement needs an id")
            if not isinstance(data, list):
                raise MalformedPacket("an acknowledgement must be a list")

    @classmethod
    def reconstruct_binary(cls, data: Any, attachments: list[bytes]) -> Any:
        """Placeholders must each name one of the attachments received."""
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                if item.get("_placeholder") and "num" in item:
                    num = item["num"]
                    if not isinstance(num, int) or not 0 <= num < len(attachments):
                        raise MalformedPacket(f"placeholder {num!r} names no attachment")
                else:
                    stack.extend(item.values())
        return super().reconstruct_binary(data, attachments)


def packet_class(max_depth: int) -> type[EdgePacket]:
    """An ``EdgePacket`` whose JSON has this depth bound (``EVENTWIRE_MAX_JSON_DEPTH``)."""
    return type("EdgePacket", (EdgePacket,), {"json": StrictJson(max_depth)})
