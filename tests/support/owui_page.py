"""The real Open WebUI frontend (0.12.4) driven in Debian's chromium through Playwright.

Same approach as ``browser.py``: the test owns the chromium process (started and stopped by
PID) and Playwright attaches over the DevTools protocol. Selectors were read off the served
page (``open_webui/frontend``); they are collected in ``Sel`` so a frontend change is fixed
in one place.

An init script taps the page's WebSocket: it records every Socket.IO ``events`` packet the
tab receives and whether the Socket.IO namespace is connected, so a test waits for the socket
(the frontend sends ``session_id`` only when it has one) and can assert on the packets the
way ``ChatPage.received()`` does for the demo page. It also records every toast, so an
assertion on a notification never races the toast's timer.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from .browser import WAIT_MS
from .openwebui import PASSWORD, User


class Sel:
    """Open WebUI 0.12.4 selectors."""

    email = "#email"  # /auth
    password = "#password"
    submit = 'button[type="submit"]'
    chat_input = "#chat-input"  # contenteditable (TipTap), not a textarea
    send = "#send-message-button"
    stop = 'button[aria-label="Stop"]'  # replaces send while a run is active
    model_button = "#model-selector-model-button"  # aria-label "Selected model: <name>"
    model_list = "#model-selector-list"  # role=listbox; options carry data-value=<model id>
    # Every message is div#message-<id> in a listitem; the user's carry .user-message.
    # (#message-input-container also starts with "message-": hence the listitem.)
    assistant = '[role="listitem"] div[id^="message-"]:not(.user-message)'
    content = "#response-content-container"  # inside an assistant message
    status = 'button[aria-label="Toggle status history"]'  # latest status line
    # __event_call__ confirmation / input: a modal named by its title; input has a textarea.
    dialog = 'div[role="dialog"][aria-modal="true"]'
    title = "nav h1"  # the chat title in the top bar
    changelog_ok = "text=Okay, Let's Go!"  # "What's New" modal for admins


# Runs before the page's scripts (engine.io-client reads window.WebSocket at load).
TAP_SCRIPT = r"""
(() => {
  const state = (window.__owui = { connected: 0, sid: '', events: [], toasts: [] });
  const Native = window.WebSocket;
  class Tapped extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes('/ws/socket.io')) return;
      let open = false;
      this.addEventListener('message', (e) => {
        if (typeof e.data !== 'string') return;
        if (e.data.startsWith('40') && !open) {
          open = true; state.connected += 1;
          try { state.sid = JSON.parse(e.data.slice(2)).sid; } catch (_) { /* no sid */ }
          return;
        }
        const m = /^42\d*(\[[\s\S]*\])$/.exec(e.data);  // EVENT, with an ack id for a call
        if (!m) return;
        try {
          const [name, payload] = JSON.parse(m[1]);
          if (name === 'events') state.events.push(payload);
        } catch (_) { /* not ours to judge */ }
      });
      this.addEventListener('close', () => { if (open) { open = false; state.connected -= 1; } });
    }
  }
  window.WebSocket = Tapped;
  const seen = new WeakSet();
  const scan = () => {
    for (const toast of document.querySelectorAll('[data-sonner-toast]')) {
      const text = (toast.querySelector('[data-title]') || toast).textContent.trim();
      if (!seen.has(toast) && text) { seen.add(toast); state.toasts.push(text); }
    }
  };
  new MutationObserver(scan).observe(document, {
    childList: true, subtree: true, characterData: true,
  });
})();
"""


def token_script(token: str) -> str:
    """Signed in before the app starts: Open WebUI keeps its session JWT in localStorage."""
    return f"localStorage.setItem('token', {json.dumps(token)});"


class OwuiPage:
    """One tab of Open WebUI, signed in as ``user``."""

    def __init__(self, context: BrowserContext, page: Page, base_url: str) -> None:
        self.context = context
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    @classmethod
    async def open(
        cls, browser: Browser, base_url: str, user: User, *, via_form: bool = False
    ) -> OwuiPage:
        """A new browser context on ``base_url``. ``via_form`` signs in through /auth like a
        person; otherwise the token goes into localStorage (faster, no UI in the way)."""
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(WAIT_MS)
        await context.add_init_script(TAP_SCRIPT)
        if not via_form:
            await context.add_init_script(token_script(user.token))
        tab = cls(context, await context.new_page(), base_url)
        if via_form:
            await tab.page.goto(f"{base_url}/auth")
            await tab.sign_in(user.email, user.password)
        else:
            await tab.page.goto(f"{base_url}/")
        await tab.ready()
        return tab

    async def close(self) -> None:
        await self.context.close()

    async def sign_in(self, email: str, password: str = PASSWORD) -> None:
        await self.page.fill(Sel.email, email)
        await self.page.fill(Sel.password, password)
        await self.page.click(Sel.submit)

    async def ready(self) -> None:
        """The chat input is up and the tab's socket is connected."""
        await expect(self.page.locator(Sel.chat_input)).to_be_visible()
        await self.page.wait_for_function("window.__owui.connected > 0")
        # Admins see "What's New" until their settings carry this version (the API helpers
        # turn it off; a user signed up elsewhere may still get it).
        ok = self.page.locator(Sel.changelog_ok)
        if await ok.is_visible():
            await ok.click()

    async def reload(self) -> None:
        await self.page.reload()
        await self.ready()

    async def new_chat(self) -> None:
        await self.page.goto(f"{self.base_url}/")
        await self.ready()

    @property
    def chat_id(self) -> str:
        found = re.search(r"/c/([^/?#]+)", self.page.url)
        return found.group(1) if found else ""

    async def pick_model(self, model_id: str) -> None:
        await self.page.click(Sel.model_button)
        await self.page.click(f'{Sel.model_list} [data-value="{model_id}"]')
        await expect(self.page.locator(Sel.model_list)).to_be_hidden()

    async def send(self, text: str) -> Locator:
        """Type ``text`` and press Enter; the locator of the assistant message it starts."""
        before = await self.page.locator(Sel.assistant).count()
        await self.page.click(Sel.chat_input)
        await self.page.keyboard.type(text)
        await self.page.keyboard.press("Enter")
        answer = self.page.locator(Sel.assistant).nth(before)
        await expect(answer).to_be_attached()
        return answer

    def assistant(self, index: int = -1) -> Locator:
        messages = self.page.locator(Sel.assistant)
        return messages.last if index == -1 else messages.nth(index)

    @staticmethod
    def content(message: Locator) -> Locator:
        return message.locator(Sel.content)

    @staticmethod
    def status(message: Locator) -> Locator:
        return message.locator(Sel.status)

    async def wait_done(self) -> None:
        """No run is active in this chat: Stop has given way to the input's buttons."""
        await expect(self.page.locator(Sel.stop)).to_have_count(0)

    async def stop(self) -> None:
        """Press Stop (POST /api/tasks/chat/<id>/stop) and wait until the run is over."""
        await self.page.click(Sel.stop)
        await self.wait_done()

    def dialog(self, title: str | None = None) -> Locator:
        if title is None:
            return self.page.locator(Sel.dialog)
        return self.page.locator(f"{Sel.dialog}[aria-label={json.dumps(title)}]")

    async def confirm(self, title: str | None = None, *, accept: bool = True) -> None:
        """Answer a ``confirmation`` call: Confirm (True) or Cancel (False)."""
        dialog = self.dialog(title)
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Confirm" if accept else "Cancel").click()
        await expect(dialog).to_be_hidden()

    async def answer_input(self, value: str, title: str | None = None) -> None:
        """Answer an ``input`` call with ``value``."""
        dialog = self.dialog(title)
        await expect(dialog).to_be_visible()
        await dialog.locator("textarea").fill(value)
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(dialog).to_be_hidden()

    def title(self) -> Locator:
        return self.page.locator(Sel.title)

    async def events(self) -> list[dict[str, Any]]:
        """Every Socket.IO ``events`` packet this tab received, in order."""
        events: list[dict[str, Any]] = await self.page.evaluate("window.__owui.events")
        return events

    async def event_types(self, message_id: str = "") -> list[str]:
        return [
            e["data"]["type"]
            for e in await self.events()
            if not message_id or e.get("message_id") == message_id
        ]

    async def sid(self) -> str:
        """The Socket.IO sid of this tab's current connection (Open WebUI's session_id)."""
        sid: str = await self.page.evaluate("window.__owui.sid")
        return sid

    async def toasts(self) -> list[str]:
        """The text of every toast shown so far (notifications, errors), in order."""
        toasts: list[str] = await self.page.evaluate("window.__owui.toasts")
        return toasts

    async def wait_toast(self, text: str) -> None:
        await self.page.wait_for_function(
            "text => window.__owui.toasts.some(t => t.includes(text))", arg=text
        )


@asynccontextmanager
async def clean_tab(browser: Browser, base_url: str, user: User) -> AsyncIterator[OwuiPage]:
    """A tab for one test; closing it fails the test if the page raised any error meanwhile."""
    page = await OwuiPage.open(browser, base_url, user)
    try:
        yield page
    finally:
        errors = list(page.errors)
        await page.close()
        assert not errors, f"page errors: {errors}"
