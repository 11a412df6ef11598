"""Reconnect without loss, with real processes: two edges behind HAProxy (deploy/haproxy), an
SDK sender, a python-socketio tab and the demo page in Chromium (the official socket.io-client,
no code of its own for recovery), both pinned to edge 1 by HAProxy's stickiness cookie.

Edge 1 is SIGKILLed while a stream runs to both tabs and a confirmation waits in each: both
reconnect through HAProxy to edge 2, get the rest of the stream exactly once and in order, are
told they were recovered, answer the dialog asked again there, and the waiting calls get those
answers. Then a transport is cut without any edge dying (HAProxy ends the connection, no
close frame): the same again on the surviving edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.deploy.haproxy import HaproxyProc
from tests.support.browser import ChatPage, chromium
from tests.support.cluster import token
from tests.support.procs import EdgeProc, SenderProc
from tests.support.tabs import Tab, eventually

from .conftest import Processes, http_json
from .test_drain import balancer
from .test_workers import PLUGINS

pytestmark = pytest.mark.e2e

SAFETY = 60.0  # a net for awaits that must end; never a measure of speed
CONFIRM = {"type": "confirmation", "data": {"title": "Keep going?", "message": "Sure?"}}


def note(user: str, seq: int) -> dict[str, Any]:
    return {"type": "notification", "data": {"type": "info", "content": f"{user} {seq}"}}


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [
        int(e["data"]["data"]["content"].split()[1])
        for e in events
        if e.get("data", {}).get("type") == "notification"
    ]


@pytest_asyncio.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async with chromium(tmp_path / "chromium-profile") as browser:
        yield browser


@pytest.fixture
async def haproxy(processes: Processes) -> AsyncIterator[list[HaproxyProc]]:
    started: list[HaproxyProc] = []
    yield started
    for tab in processes.tabs:
        await tab.disconnect()
    for proc in started:
        await proc.stop()


class Stream:
    """Numbered notifications to one user, one at a time (publish order = seq), until stopped."""

    def __init__(self, sender: SenderProc, user: str) -> None:
        self.sender, self.user = sender, user
        self.sent = 0
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            reply = await self.sender.request(
                "emit", user=self.user, event=note(self.user, self.sent)
            )
            assert reply == {"ok": True}, reply
            self.sent += 1
            # Paced like a model's token stream (tens a second), not as fast as it can go:
            # a tab that falls recovery_max_events behind is not recoverable (README).
            await asyncio.sleep(0.02)

    async def reached(self, n: int) -> None:
        await eventually(lambda: self.sent >= n, within=SAFETY)

    async def stop(self) -> int:
        self._stop.set()
        await self._task
        return self.sent


async def page_state(page: ChatPage) -> dict[str, Any]:
    socket = "window.eventwire.state.socket"
    state: dict[str, Any] = await page.page.evaluate(
        f"({{sid: {socket}?.id, connected: {socket}?.connected, recovered: {socket}?.recovered}})"
    )
    return state


async def sessions(edge: EdgeProc) -> int:
    _, stats = await http_json(f"{edge.url}/stats")
    return int(stats["sessions"])


async def test_sigkill_and_a_cut_transport_lose_nothing(
    processes: Processes,
    env: dict[str, str],
    haproxy: list[HaproxyProc],
    browser: Browser,
    tmp_path: Path,
) -> None:
    edge_env = {**env, "EVENTWIRE_DEV_LOGIN": "true", "EVENTWIRE_PLUGINS_DIR": PLUGINS}
    edges = [await processes.edge(edge_env, "edge-1"), await processes.edge(edge_env, "edge-2")]
    sender = await processes.sender(env)
    lb = balancer(edges, tmp_path / "haproxy.log", admin=True)
    haproxy.append(lb)
    await lb.start()

    async def both_up() -> bool:
        return list((await lb.servers()).values()) == ["UP", "UP"]

    await eventually(both_up, within=SAFETY)
    pinned = {"name": "EWEDGE", "value": "edge1", "url": lb.url}

    tab = Tab(
        lb.url, token("ann"), name="ann", reconnection=True, headers={"Cookie": "EWEDGE=edge1"}
    )
    processes.tabs.append(tab)
    await tab.connect()
    # The demo page, the same way: HAProxy's cookie in its browser context.
    context = await browser.new_context()
    await context.add_cookies([pinned])
    page = ChatPage(context, await context.new_page(), "bob")
    try:
        await page.page.goto(lb.url)
        await page.page.fill("#login-name", "bob")
        await page.page.click("#login-submit")
        await expect(page.page.locator("#conn")).to_have_attribute("data-state", "connected")
        assert await sessions(edges[0]) == 2 and await sessions(edges[1]) == 0
        ann_sid, bob_sid = tab.sid, (await page_state(page))["sid"]

        streams = [Stream(sender, "ann"), Stream(sender, "bob")]
        for stream in streams:
            await stream.reached(15)

        # A confirmation waits in each tab when edge 1 dies.
        asked: list[str] = []

        async def answer(data: dict[str, Any]) -> Any:
            if data["data"]["type"] != "confirmation":
                return None
            asked.append(tab.sid)
            if len(asked) == 1:
                await asyncio.Event().wait()  # the dialog of the first ask is never answered
            return {"confirmed": "ann"}

        tab.answer = answer
        ann_call = asyncio.create_task(
            sender.request("call", user="ann", session=ann_sid, event=CONFIRM, timeout=SAFETY)
        )
        bob_call = asyncio.create_task(
            sender.request("call", user="bob", session=bob_sid, event=CONFIRM, timeout=SAFETY)
        )
        await eventually(lambda: len(asked) == 1, within=SAFETY)
        await expect(page.dialog).to_be_visible()

        edges[0].kill()  # SIGKILL: no goodbye, no drain
        assert edges[0].proc is not None
        await asyncio.wait_for(edges[0].proc.wait(), SAFETY)
        assert edges[0].proc.returncode == -signal.SIGKILL

        # Both reconnect through HAProxy to edge 2, as the same sessions.
        await eventually(lambda: tab.connects == 2 and tab.client.connected, within=SAFETY)
        assert tab.client.recovered is True and tab.sid == ann_sid
        await eventually(lambda: _page_back(page, bob_sid), within=SAFETY)
        # The confirmation pending at the kill is asked again on edge 2 and answered there.
        await expect(page.dialog).to_be_visible()
        await page.dialog.locator("#dialog-confirm").click()
        bob_reply = await asyncio.wait_for(bob_call, SAFETY)
        assert bob_reply["ok"] is True, bob_reply
        assert await asyncio.wait_for(ann_call, SAFETY) == {
            "ok": True,
            "value": {"confirmed": "ann"},
        }
        assert asked == [ann_sid, ann_sid]

        # A transport cut with no edge dying: HAProxy drops every connection to edge 2.
        for stream in streams:
            await stream.reached(stream.sent + 15)
        await lb.shutdown_sessions("edge2")
        await eventually(lambda: tab.connects == 3 and tab.client.connected, within=SAFETY)
        assert tab.client.recovered is True and tab.sid == ann_sid
        await eventually(lambda: _page_back(page, bob_sid), within=SAFETY)
        for stream in streams:
            await stream.reached(stream.sent + 15)
        ann_end, bob_end = [await stream.stop() for stream in streams]

        await tab.wait_for(lambda events: ann_end - 1 in seqs(events))
        assert seqs(tab.events) == list(range(ann_end))  # once each, in order
        await eventually(lambda: _page_has(page, bob_end - 1), within=SAFETY)
        assert seqs(await page.received()) == list(range(bob_end))
        _, stats = await http_json(f"{edges[1].url}/stats")
        assert stats["recovery"]["sessions_recovered"] == 4
        assert stats["recovery"]["calls_asked_again"] == 2
        assert page.errors == []
    finally:
        with contextlib.suppress(Exception):
            await context.close()


async def _page_back(page: ChatPage, sid: str) -> bool:
    state = await page_state(page)
    return bool(state["connected"] and state["recovered"] and state["sid"] == sid)


async def _page_has(page: ChatPage, seq: int) -> bool:
    return seq in seqs(await page.received())
