"""Tabs that speak the rest of Open WebUI's socket surface: join, channels, lists, usage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from eventwire_edge import EdgeServer

from .cluster import Cluster, token
from .tabs import WAIT, Tab


class Member(Tab):
    """A tab that records every other event too (``events:channel``, ``user-list`` ...)."""

    def __init__(self, url: str, user_id: str, **claims: Any) -> None:
        self.token_value = token(user_id, **claims)
        super().__init__(url, self.token_value, name=user_id)
        self.received: list[tuple[str, Any]] = []
        self.client.on("*", self._on_any)

    async def _on_any(self, event: str, data: Any = None) -> None:
        self.received.append((event, data))
        async with self._arrived:
            self._arrived.notify_all()

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.received if name == event]

    async def ask(self, event: str, data: Any = None) -> Any:
        """Send ``event`` and return the server's acknowledgement value."""
        return await self.client.call(event, data, timeout=WAIT)

    async def join(self, *channel_ids: str) -> Any:
        payload: dict[str, Any] = {"auth": {"token": self.token_value}}
        if channel_ids:
            payload["channel_ids"] = list(channel_ids)
        return await self.ask("join-channels", payload)

    async def say(self, channel_id: str, text: str, event: str = "events:channel") -> Any:
        """A typing event carrying ``text`` (acknowledged once the node has published it)."""
        return await self.ask(
            event, {"channel_id": channel_id, "data": {"type": "typing", "data": {"text": text}}}
        )

    def heard(self, event: str = "events:channel") -> list[tuple[str, str, str]]:
        """(channel, sender, text) of each channel event received."""
        return [
            (d["channel_id"], d["user"]["id"], d["data"]["data"]["text"]) for d in self.of(event)
        ]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Until ``condition()`` holds, re-checked on every event or error that arrives."""
        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(condition)


async def member(cluster: Cluster, edge: EdgeServer, user_id: str, **claims: Any) -> Member:
    """A connected ``Member`` the cluster disconnects at teardown."""
    m = Member(edge.url, user_id, **claims)
    cluster.tabs.append(m)
    await m.connect()
    return m
