"""A minimal Socket.IO v5 / Engine.IO v4 client over aiohttp websockets, for load generation.

python-socketio's client costs far more per event than the servers under test; this one does
only what a benchmark tab needs: connect with ``auth``, answer pings, hand each event (and its
ack id, for calls) to a callback, and send acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

PATH = "/ws/socket.io/?EIO=4&transport=websocket"

OnEvent = Callable[["LightClient", str, Any, int | None], None]


class Refused(Exception):
    pass


class LightClient:
    def __init__(self, url: str, token: str, on_event: OnEvent, *, user: str = "") -> None:
        self.url = url.replace("http://", "ws://", 1).rstrip("/") + PATH
        self.token = token
        self.user = user
        self.sid = ""
        # Connection state recovery, as socket.io-client does it: the CONNECT answer's pid and
        # each event's trailing offset go back in the next CONNECT.
        self.pid: str | None = None
        self.offset: str | None = None
        self.recovered = False
        self._on_event = on_event
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = asyncio.Event()  # the server side went away (read loop ended)

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed and not self.dropped.is_set()

    async def connect(self, http: aiohttp.ClientSession, timeout: float = 60.0) -> LightClient:
        self._ws = ws = await http.ws_connect(self.url, autoping=True, timeout=timeout)
        async with asyncio.timeout(timeout):
            opened = await ws.receive_str()
            if not opened.startswith("0"):
                raise Refused(f"unexpected engine.io open packet {opened[:80]!r}")
            auth: dict[str, Any] = {"token": self.token}
            if self.pid is not None:
                auth["pid"] = self.pid
                if self.offset is not None:
                    auth["offset"] = self.offset
            await ws.send_str("40" + json.dumps(auth))
            answer = await ws.receive_str()
        if answer.startswith("44"):
            raise Refused(f"connect refused: {answer[2:200]}")
        if not answer.startswith("40"):
            raise Refused(f"unexpected connect answer {answer[:80]!r}")
        connected = json.loads(answer[2:])
        self.sid = connected["sid"]
        pid = connected.get("pid")
        self.recovered = pid is not None and pid == self.pid
        self.pid = pid
        self.dropped.clear()
        self._task = asyncio.create_task(self._read())
        return self

    async def reconnect(self, http: aiohttp.ClientSession, url: str) -> LightClient:
        """As a tab after its edge died: a new connection, to whatever ``url`` now serves it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.url = url.replace("http://", "ws://", 1).rstrip("/") + PATH
        return await self.connect(http)

    async def ack(self, ack_id: int, value: Any) -> None:
        if self._ws is not None:
            await self._ws.send_str(f"43{ack_id}" + json.dumps([value]))

    async def _read(self) -> None:
        try:
            await self._read_frames()
        finally:
            self.dropped.set()

    async def _read_frames(self) -> None:
        ws = self._ws
        if ws is None:
            return
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data: str = msg.data
            if data == "2":
                await ws.send_str("3")
            elif data.startswith("42"):
                start = data.index("[")
                ack_id = int(data[2:start]) if start > 2 else None
                packet = json.loads(data[start:])
                if ack_id is None and len(packet) == 3 and isinstance(packet[2], str):
                    self.offset = packet[2]
                self._on_event(self, packet[0], packet[1] if len(packet) > 1 else None, ack_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
