"""A raw Engine.IO v4 websocket client: it sends exactly the frames a test writes.

python-socketio's client only sends well-formed packets; an attacker sends anything. This one
speaks just enough of the protocol (open, connect, ping/pong, events, acks) to stand in for
both, and records every Socket.IO packet the server sends. ``read=False`` makes a client that
never reads its websocket at all: a slow consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp

from eventwire_edge.server import SOCKETIO_PATH

WAIT = 20.0  # safety net for awaiting a frame that should come; never a synchronisation


class RawSocket:
    def __init__(self, url: str) -> None:
        self.ws_url = (
            url.replace("http://", "ws://") + SOCKETIO_PATH + "/?EIO=4&transport=websocket"
        )
        self._http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sid: str | None = None
        self.packets: list[
            str
        ] = []  # Socket.IO packets received: '2[...]' events, '3<id>[...]' acks
        self.closed = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def open(self, *, read: bool = True, **ws_options: Any) -> RawSocket:
        """The Engine.IO handshake; with ``read=False`` nothing is read after it."""
        self._http = aiohttp.ClientSession()
        self.ws = await self._http.ws_connect(self.ws_url, **ws_options)
        opening = await self._receive()
        if not opening.startswith("0"):
            raise RuntimeError(f"expected an Engine.IO open packet, got {opening[:80]!r}")
        if read:
            self._reader = asyncio.create_task(self._read())
        return self

    async def connect(self, token: str, *, read: bool = True, **ws_options: Any) -> RawSocket:
        """Open and join the default namespace with ``auth={"token": token}``."""
        await self.open(read=False, **ws_options)
        await self.send("40" + json.dumps({"token": token}))
        answer = await self._receive()
        if not answer.startswith("40"):
            raise RuntimeError(f"connect refused: {answer[:200]}")
        self.sid = json.loads(answer[2:])["sid"]
        if read:
            self._reader = asyncio.create_task(self._read())
        return self

    async def send(self, frame: str | bytes) -> None:
        if self.ws is None:
            raise RuntimeError("not open")
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def emit(self, event: str, data: Any = None, *, ack: int | None = None) -> None:
        args = [event] if data is None else [event, data]
        await self.send("42" + ("" if ack is None else str(ack)) + json.dumps(args))

    async def ask(self, event: str, data: Any = None, *, ack: int = 1) -> Any:
        """Emit with an acknowledgement id and return the server's ack value."""
        await self.emit(event, data, ack=ack)
        packet = await self.wait_for(lambda p: p.startswith(f"3{ack}["))
        answer = json.loads(packet[1 + len(str(ack)) :])
        return answer[0] if answer else None

    def events(self, name: str) -> list[Any]:
        """The data of every ``name`` event received."""
        found = []
        for packet in self.packets:
            if packet.startswith("2["):
                args = json.loads(packet[1:])
                if args[0] == name:
                    found.append(args[1] if len(args) > 1 else None)
        return found

    async def wait_for(self, matches: Any) -> str:
        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(
                lambda: any(matches(p) for p in self.packets) or self.closed.is_set()
            )
        for packet in self.packets:
            if matches(packet):
                return packet
        raise ConnectionError("the server closed the connection")

    async def wait_for_error(self, code: str) -> dict[str, Any]:
        def is_error(packet: str) -> bool:
            return packet.startswith('2["error"') and json.loads(packet[1:])[1]["code"] == code

        return json.loads((await self.wait_for(is_error))[1:])[1]  # type: ignore[no-any-return]

    async def wait_closed(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.closed.wait()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._http is not None:
            await self._http.close()

    async def _receive(self) -> str:
        if self.ws is None:
            raise RuntimeError("not open")
        async with asyncio.timeout(WAIT):
            message = await self.ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"websocket ended: {message.type.name}")
        return str(message.data)

    async def _read(self) -> None:
        if self.ws is None:
            return
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = str(message.data)
                if frame == "2":
                    await self.ws.send_str("3")  # pong
                    continue
                if frame.startswith("4"):
                    async with self._arrived:
                        self.packets.append(frame[1:])
                        self._arrived.notify_all()
        finally:
            self.closed.set()
            async with self._arrived:
                self._arrived.notify_all()
