"""A real Open WebUI 0.12.4 and its real frontend, with plain Open WebUI Functions (no
eventwire yet): proves the Open WebUI fixture and the page helpers that the Open WebUI issues
build on. Open WebUI boots once for the module (~15-20 s); each test opens its own tab.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.support.browser import chromium
from tests.support.openwebui import OpenWebUI, User, missing_openwebui
from tests.support.owui_page import OwuiPage

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

FUNCTIONS = Path(__file__).parent / "owui_functions"


@dataclass
class Site:
    owui: OpenWebUI
    admin: User
    user: User


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    if (why := missing_openwebui()) is not None:
        pytest.fail(why, pytrace=False)
    owui = OpenWebUI(tmp_path_factory.mktemp("openwebui") / "data")
    try:
        await owui.start()
        admin = await owui.signup_admin()
        user = await owui.add_user(admin, "Bob", "bob@example.com")
        for name in ("smoke", "ticker"):
            source = (FUNCTIONS / f"{name}_pipe.py").read_text()
            await owui.create_function(admin, name, source, name=name.title())
        yield Site(owui, admin, user)
    finally:
        await owui.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    async with chromium(tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def tabs(site: Site, browser: Browser) -> AsyncIterator[list[OwuiPage]]:
    opened: list[OwuiPage] = []
    try:
        yield opened
    finally:
        errors = [error for tab in opened for error in tab.errors]
        for tab in opened:
            await tab.close()
        assert not errors, f"page errors: {errors}"


async def test_pipes_are_models_and_new_users_are_active(site: Site) -> None:
    ids = {model["id"] for model in await site.owui.models(site.user)}
    assert {"smoke", "ticker"} <= ids
    assert site.admin.role == "admin"
    assert site.user.role == "user"  # DEFAULT_USER_ROLE=user: no approval step
    again = await site.owui.signin(site.user.email)
    assert again.id == site.user.id


async def test_status_confirmation_and_stream(
    site: Site, browser: Browser, tabs: list[OwuiPage]
) -> None:
    tab = await OwuiPage.open(browser, site.owui.url, site.admin, via_form=True)
    tabs.append(tab)
    await tab.pick_model("smoke")
    answer = await tab.send("Hello, smoke!")

    # The pipe is parked in __event_call__: its status shows under the answer meanwhile.
    await expect(tab.status(answer)).to_contain_text("Smoke pipe is thinking")
    await tab.confirm("Smoke check")

    await expect(tab.content(answer)).to_contain_text("Smoke streamed answer: confirmed=True")
    await expect(tab.status(answer)).to_contain_text("Confirmed: True")
    await tab.wait_done()
    types = await tab.event_types()
    assert "status" in types and "confirmation" in types

    # Saved by Open WebUI like any pipe's answer: after a reload, and through the API.
    chat_id = tab.chat_id
    await tab.reload()
    await expect(tab.content(tab.assistant())).to_contain_text("confirmed=True")
    await expect(tab.title()).to_have_text("Hello, smoke!")  # no title task: the prompt
    chat = await site.owui.chat(site.admin, chat_id)
    saved = [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]
    assert "confirmed=True" in saved[0]["content"]


async def test_input_notification_and_stop(
    site: Site, browser: Browser, tabs: list[OwuiPage]
) -> None:
    tab = await OwuiPage.open(browser, site.owui.url, site.user)  # token in localStorage
    tabs.append(tab)
    await tab.pick_model("ticker")
    answer = await tab.send("Count for me")

    await tab.answer_input("Bob", "Your name")
    await tab.wait_toast("Hello, Bob!")
    await expect(tab.content(answer)).to_contain_text("tick3 ")

    await tab.stop()
    await tab.wait_toast("Ticker stopped")  # the pipe saw the CancelledError
    chat_id = tab.chat_id
    await tab.reload()
    await expect(tab.content(tab.assistant())).to_contain_text("tick3 ")
    chat = await site.owui.chat(site.user, chat_id)
    saved = [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]
    assert saved[0]["done"] is True
