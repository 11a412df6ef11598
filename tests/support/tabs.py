"""Real python-socketio clients standing in for browser tabs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from eventwire_edge.recovering import RecoveringClient
from eventwire_edge.server import SOCKETIO_PATH

WAIT = 20.0  # safety net for awaiting an event that should come; never a synchronisation

Answer = Callable[[dict[str, Any]], Awaitable[Any]]


class Refused(Exception):
    def __init__(self, message: str, data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class Tab:
    """One Socket.IO connection: records every ``events`` packet, answers calls via ``answer``.

    ``reconnection=True``: like a browser tab, it reconnects after a transport drop (with
    recovery on, to the same session: ``client.recovered``); ``on_change(tab, "connect" |
    "disconnect")`` is told each time. ``headers``: sent with every connect (a balancer's
    stickiness cookie, say).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        name: str = "",
        reconnection: bool = False,
        on_change: Callable[[Tab, str], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.headers = headers or {}
        self.token = token
        self.name = name
        self.client = RecoveringClient(reconnection=reconnection)
        self.connects = 0
        self.disconnects = 0
        self._on_change = on_change
        self.events: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.calls: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answer: Answer | None = None
        self._arrived = asyncio.Condition()
        self._refusal: Any = None
        self.client.on("events", self._on_events)
        self.client.on("error", self._on_error)
        self.client.on("connect_error", self._on_connect_error)
        self.client.on("connect", self._on_connect)
        self.client.on("disconnect", self._on_disconnect)

    @property
    def sid(self) -> str:
        sid = self.client.get_sid()
        if sid is None:
            raise RuntimeError(f"tab {self.name} is not connected")
        return str(sid)

    async def connect(self) -> Tab:
        auth = {"token": self.token} if self.token is not None else None
        try:
            await self.client.connect(
                self.url,
                auth=auth,
                socketio_path=SOCKETIO_PATH,
                transports=["websocket"],
                headers=self.headers,
                wait_timeout=WAIT,
            )
        except socketio.exceptions.ConnectionError as exc:
            await self.client.eio.disconnect()  # closes the HTTP session a failed attempt leaves
            data = self._refusal if isinstance(self._refusal, dict) else {}
            raise Refused(str(data.get("message", self._refusal or exc)), data.get("data")) from exc
        return self

    async def disconnect(self) -> None:
        try:
            # Also stops a reconnection under way. A clean close waits for the server's side;
            # when that is gone (a balancer stopped first) the socket is dropped instead.
            async with asyncio.timeout(WAIT / 4):
                await self.client.shutdown()
        except Exception:
            with contextlib.suppress(Exception):
                await self.client.eio.disconnect(abort=True)

    async def _on_connect_error(self, data: Any) -> None:
        self._refusal = data

    async def _on_connect(self) -> None:
        self.connects += 1
        if self._on_change is not None:
            self._on_change(self, "connect")
        async with self._arrived:
            self._arrived.notify_all()

    async def _on_disconnect(self, *_reason: Any) -> None:
        self.disconnects += 1
        if self._on_change is not None:
            self._on_change(self, "disconnect")
        async with self._arrived:
            self._arrived.notify_all()

    async def _on_error(self, data: dict[str, Any]) -> None:
        self.errors.append(data)
        async with self._arrived:
            self._arrived.notify_all()

    async def _on_events(self, data: dict[str, Any]) -> Any:
        self.events.append(data)
        async with self._arrived:
            self._arrived.notify_all()
        if self.answer is not None:
            await self.calls.put(data)
            return await self.answer(data)
        return None

    def types(self) -> list[str]:
        return [e["data"]["type"] for e in self.events]

    def contents(self) -> list[Any]:
        return [e["data"].get("data") for e in self.events]

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> None:
        """Until ``predicate(self.events)`` holds (each new event re-checks it)."""
        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(lambda: predicate(self.events))

    async def wait_for_content(self, marker: Any) -> dict[str, Any]:
        def seen(events: list[dict[str, Any]]) -> bool:
            return any(e["data"].get("data") == marker for e in events)

        await self.wait_for(seen)
        return next(e for e in self.events if e["data"].get("data") == marker)

    async def wait_for_error(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(lambda: bool(self.errors))
        return self.errors[-1]


async def eventually(check: Callable[[], Any], *, within: float = WAIT) -> Any:
    """Poll a condition that has no event of its own (e.g. a counter on another node)."""
    async with asyncio.timeout(within):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(0.02)
