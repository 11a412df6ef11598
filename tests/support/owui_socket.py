"""A python-socketio client speaking to Open WebUI as its frontend does (issue 12 tests).

It connects straight to one replica (no balancer) with an Open WebUI user's token, announces
itself with ``user-join`` (which puts the socket in the user's and channels' rooms and answers
once that is done) and records every ``events:channel`` packet, so a test can wait for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import socketio

from .openwebui import User

Packet = dict[str, Any]


class OwuiSocket:
    def __init__(self, url: str, user: User) -> None:
        self.url = url
        self.user = user
        self.channel_events: list[Packet] = []
        self._changed = asyncio.Condition()
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("events:channel", self._on_channel_event)

    async def __aenter__(self) -> Self:
        await self.client.connect(
            self.url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": self.user.token},
            wait_timeout=10,
        )
        joined = await self.client.call("user-join", {"auth": {"token": self.user.token}})
        if not isinstance(joined, dict) or joined.get("id") != self.user.id:
            raise RuntimeError(f"user-join answered {joined!r}")
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.client.disconnect()

    async def _on_channel_event(self, packet: Packet) -> None:
        async with self._changed:
            self.channel_events.append(packet)
            self._changed.notify_all()

    async def channel_event(self, match: Callable[[Packet], bool]) -> Packet:
        """The first ``events:channel`` packet (received so far or next) ``match`` accepts;
        the caller bounds the wait."""
        async with self._changed:
            while True:
                for packet in self.channel_events:
                    if match(packet):
                        return packet
                await self._changed.wait()
