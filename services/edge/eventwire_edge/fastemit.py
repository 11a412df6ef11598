"""Events written straight to the connections' queues: encoded once, no task per recipient.

python-socketio's ``emit`` builds a packet object, scans it for binary data, encodes it, then
creates a task per recipient (and waits for them all) only to put the same Engine.IO packet on
each connection's queue. The edge's profile under load had a sixth of its CPU there. Here an
event to a room (a sid is a room of its own) is one ``json.dumps`` with python-socketio's own
settings (compact, ASCII, no NaN / Infinity: ``jsontext``), one Engine.IO packet, and a
``put_nowait`` on each connection's bounded queue (``outgoing.SendQueue``), synchronously.

The bytes on the wire are the ones python-socketio writes: arguments holding ``bytes`` are
encoded by its packet class (a binary packet and its attachments, queued in order). A
connection whose client missed its pongs gets the packets through python-engineio's ``send``,
which closes it as engineio does. Everything here is synchronous, so a caller writes events in
the order they came without awaiting anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

NAMESPACE = "/"
_EVENT = str(sio_packet.EVENT)
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode_event(event: str, args: tuple[Any, ...]) -> str | None:
    """The Socket.IO EVENT packet python-socketio writes for ``emit(event, args)`` on "/";
    None when an argument holds binary data. ``ValueError`` for NaN / Infinity."""
    try:
        return _EVENT + _encode([event, *args])
    except TypeError:
        return None  # bytes (a binary packet) or something python-socketio must judge


class EventWriter:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    def write(
        self,
        event: str,
        args: tuple[Any, ...],
        room: str,
        skip: Collection[str] | None = None,
    ) -> None:
        """Queue the event to every socket of ``room`` on this server; ``ValueError`` when
        an argument is not JSON (NaN / Infinity), and nothing is written."""
        sio = self._sio
        text = encode_event(event, args)
        if text is None:  # binary: python-socketio's packet and attachments
            encoded = sio.packet_class(
                sio_packet.EVENT, namespace=NAMESPACE, data=[event, *args]
            ).encode()
            pieces = encoded if isinstance(encoded, list) else [encoded]
            packets = [eio_packet.Packet(eio_packet.MESSAGE, piece) for piece in pieces]
        else:
            packets = [eio_packet.Packet(eio_packet.MESSAGE, text)]
        engine = sio.eio
        sockets = engine.sockets
        now = 0.0
        for sid, eio_sid in sio.manager.get_participants(NAMESPACE, room):
            if skip and sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            last_ping = socket.last_ping
            if last_ping:
                now = now or time.time()
                if now - last_ping > engine.ping_timeout:  # engineio's send closes it
                    sio.start_background_task(_send, socket, packets)
                    continue
            queue = socket.queue
            for packet in packets:
                queue.put_nowait(packet)

    def socket(self, sid: str) -> Any:
        """python-engineio's socket of ``sid`` on this server, or None."""
        sio = self._sio
        eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        return sio.eio.sockets.get(eio_sid) if eio_sid is not None else None

    def send_ping(self, sid: str) -> bool:
        """An Engine.IO PING to the socket of ``sid`` (recovery's confirmations), queued now."""
        socket = self.socket(sid)
        if socket is None or socket.closed:
            return False
        socket.queue.put_nowait(eio_packet.Packet(eio_packet.PING))
        return True


async def _send(socket: Any, packets: list[Any]) -> None:
    for packet in packets:
        await socket.send(packet)
