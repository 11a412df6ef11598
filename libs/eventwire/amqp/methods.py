"""The ``nowait`` methods of a mailbox's attach and deletion, marshalled by eventwire.

A connecting tab's mailbox is a queue declare, its binds and a consume; a closed tab's, a
cancel and a queue delete. pamqp marshals each through its generic, validated encoder (about
30 µs for a fresh mailbox's four methods, most of it the declare's argument table, the same for
every mailbox); here a method is a few ``struct`` packs, and the argument table is encoded
once (``MailboxMethods``). The bytes are the ones pamqp writes (tested method by method,
``tests/unit/test_amqp_methods.py``). Frame layout: AMQP 0-9-1, section 4.2.3; methods: the
spec's queue (class 50) and basic (class 60) classes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from pamqp import encode

_FRAME = struct.Struct(">BHI")  # type, channel, payload size
_FRAME_END = b"\xce"
_METHOD = struct.Struct(">HHH")  # class, method, the reserved short most methods start with
_CANCEL = struct.Struct(">HH")  # basic.cancel has no reserved short
_EMPTY_TABLE = b"\x00\x00\x00\x00"

# Method bits, in the order the spec lists them (bit 0 first).
_DECLARE_DURABLE, _DECLARE_NOWAIT = 0x02, 0x10  # passive 1, durable 2, exclusive 4, auto-delete 8
_BIND_NOWAIT = 0x01
_CONSUME_NOWAIT = 0x08  # no-local 1, no-ack 2, exclusive 4, nowait 8
_CANCEL_NOWAIT = 0x01
_DELETE_NOWAIT = 0x04  # if-unused 1, if-empty 2, nowait 4


def shortstr(value: str) -> bytes:
    """An AMQP short string: a length byte, then at most 255 bytes of UTF-8."""
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError(f"short string over 255 bytes: {value[:40]!r}...")
    return bytes((len(raw),)) + raw


def frame(kind: int, channel: int, payload: bytes) -> bytes:
    """A frame of ``kind`` (1 method, 2 content header, 3 body) on ``channel``."""
    return _FRAME.pack(kind, channel, len(payload)) + payload + _FRAME_END


def _method(channel: int, class_id: int, method_id: int, *fields: bytes) -> bytes:
    """A method frame of one that starts with the reserved short (all here but cancel)."""
    return frame(1, channel, _METHOD.pack(class_id, method_id, 0) + b"".join(fields))


def table(arguments: Mapping[str, Any] | None) -> bytes:
    """An AMQP field table as pamqp encodes it (its encoder: one table, many mailboxes)."""
    return encode.field_table(dict(arguments)) if arguments else _EMPTY_TABLE


class MailboxMethods:
    """Marshals mailbox attaches, with the argument table every mailbox shares encoded once."""

    def __init__(self, arguments: Mapping[str, Any] | None) -> None:
        self._arguments = table(arguments)

    def attach(
        self,
        channel: int,
        queue: str,
        *,
        durable: bool,
        exchange: str,
        keys: Sequence[str],
        consumer_tag: str,
    ) -> bytes:
        """Declare ``queue`` (with the arguments), bind it to ``keys`` on ``exchange`` and
        consume it under ``consumer_tag``: a frame each, every one ``nowait``."""
        name = shortstr(queue)
        bits = _DECLARE_NOWAIT | (_DECLARE_DURABLE if durable else 0)
        out = [_method(channel, 50, 10, name, bytes((bits,)), self._arguments)]
        target = name + shortstr(exchange)
        nowait = bytes((_BIND_NOWAIT,))
        out += [_method(channel, 50, 20, target, shortstr(k), nowait, _EMPTY_TABLE) for k in keys]
        tag = shortstr(consumer_tag)
        out.append(_method(channel, 60, 20, name, tag, bytes((_CONSUME_NOWAIT,)), _EMPTY_TABLE))
        return b"".join(out)


def delete(channel: int, queue: str, consumer_tag: str | None) -> bytes:
    """Cancel ``consumer_tag`` (if any) and delete ``queue``, both ``nowait``."""
    out = b""
    if consumer_tag is not None:
        cancel = _CANCEL.pack(60, 30) + shortstr(consumer_tag) + bytes((_CANCEL_NOWAIT,))
        out = frame(1, channel, cancel)
    return out + _method(channel, 50, 40, shortstr(queue), bytes((_DELETE_NOWAIT,)))
