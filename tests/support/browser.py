"""The demo page driven in Debian's chromium through Playwright (never `playwright install`).

The test owns the chromium process (started here, stopped by PID); Playwright attaches to it
over the DevTools protocol on a port chromium picked itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from .procs import WAIT, Proc

CHROMIUM = os.environ.get("EVENTWIRE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT_MS = 20_000  # safety net for what should come; Playwright waits on events, not time
expect.set_options(timeout=WAIT_MS)


def missing_chromium() -> str | None:
    if Path(CHROMIUM).is_file():
        return None
    return (
        f"no chromium at {CHROMIUM}: the browser tests drive Debian's chromium "
        "(apt-get install -y chromium; .ci/run and `make test` do it). "
        "Never `playwright install`."
    )


DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Browser]:
    """Debian's chromium, owned by the caller's fixture, with Playwright attached; stopped by
    PID after. A missing chromium fails the test (never a skip)."""
    if (why := missing_chromium()) is not None:
        raise RuntimeError(why)
    proc = ChromiumProc(profile)
    try:
        await proc.start()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.connect_over_cdp(proc.endpoint)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        await proc.stop()


class ChromiumProc(Proc):
    """Headless chromium with a throw-away profile; ``.endpoint`` is its DevTools URL."""

    def __init__(self, profile: Path) -> None:
        super().__init__(
            CHROMIUM,
            *CHROMIUM_ARGS,
            "--remote-debugging-port=0",  # chromium picks a free port and prints it
            f"--user-data-dir={profile}",
            "about:blank",
            env={},
            name="chromium",
        )
        self.endpoint = ""
        self._listening: asyncio.Future[str] | None = None

    async def start(self) -> ChromiumProc:
        self._listening = asyncio.get_running_loop().create_future()
        await super().start()
        try:
            async with asyncio.timeout(WAIT):
                self.endpoint = await self._listening
        except TimeoutError:
            raise RuntimeError(
                "chromium did not start:\n" + "\n".join(self.stderr_lines[-20:])
            ) from None
        return self

    async def _drain_stderr(self) -> None:
        if self.proc is None or self.proc.stderr is None:
            return
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr_lines.append(line)
            found = DEVTOOLS.search(line)
            if found and self._listening is not None and not self._listening.done():
                self._listening.set_result(found.group(1))


class ChatPage:
    """One tab of the demo page, signed in as ``user`` on one edge node."""

    def __init__(self, context: BrowserContext, page: Page, user: str) -> None:
        self.context = context
        self.page = page
        self.user = user
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @classmethod
    async def open(cls, browser: Browser, url: str, user: str) -> ChatPage:
        context = await browser.new_context(viewport={"width": 1000, "height": 680})
        context.set_default_timeout(WAIT_MS)
        # Toasts stay up: an assertion on one never races its timer on a busy machine.
        await context.add_init_script("window.eventwireToastMs = 3600 * 1000;")
        page = await context.new_page()
        chat = cls(context, page, user)
        await page.goto(url)
        await page.fill("#login-name", user)
        await page.click("#login-submit")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
        await expect(page.locator("#model")).to_have_value("showcase")  # the models arrived
        return chat

    async def close(self) -> None:
        await self.context.close()

    async def send(self, model: str, text: str = "Hello!") -> Locator:
        """Submit ``text`` to ``model``; the locator of the answer this tab just started."""
        before = await self.page.locator("article.assistant").count()
        await self.page.select_option("#model", model)
        await self.page.fill("#prompt", text)
        await self.page.press("#prompt", "Enter")
        answer = self.page.locator("article.assistant").nth(before)
        await expect(answer).to_have_attribute("data-message-id", re.compile(".+"))
        return answer

    def answer(self, message_id: str) -> Locator:
        return self.page.locator(f'article.assistant[data-message-id="{message_id}"]')

    async def received(self) -> list[dict[str, Any]]:
        """Every ``events`` packet this tab received, as the page recorded it."""
        events: list[dict[str, Any]] = await self.page.evaluate("window.eventwire.received")
        return events

    async def types_for(self, message_id: str) -> list[str]:
        return [e["data"]["type"] for e in await self.received() if e["message_id"] == message_id]

    @property
    def dialog(self) -> Locator:
        return self.page.locator("#event-dialog")
