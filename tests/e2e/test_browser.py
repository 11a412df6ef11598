"""The demo page in headless Chromium with the official socket.io-client.

Two edge processes and one worker process on the example plugins, started once for the
module; each test opens its own pages (browser contexts): alice on edge A and on edge B, bob
on edge A.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from eventwire import Settings
from eventwire_worker.service import EXAMPLES as EXAMPLES_DIR
from tests.support.browser import ARTIFACTS, ChatPage, chromium
from tests.support.cluster import delete_namespace, token
from tests.support.http import post
from tests.support.procs import EdgeProc

from .conftest import Processes, cluster_env

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = str(EXAMPLES_DIR)
SHOWCASE_TEXT = "Hello, alice! Every event kind is on its way."


@dataclass
class Site:
    a: EdgeProc
    b: EdgeProc
    pages: list[ChatPage]
    browser: Browser

    async def page(self, edge: EdgeProc, user: str) -> ChatPage:
        page = await ChatPage.open(self.browser, edge.url, user)
        self.pages.append(page)
        return page


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    async with chromium(tmp_path_factory.mktemp("chromium-profile")) as browser:
        yield browser


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edges(amqp_url: str) -> AsyncIterator[tuple[EdgeProc, EdgeProc]]:
    env = cluster_env(amqp_url, EVENTWIRE_DEV_LOGIN="true", EVENTWIRE_PLUGINS_DIR=EXAMPLES)
    processes = Processes()
    try:
        a = await processes.edge(env, "edge-a")
        b = await processes.edge(env, "edge-b")
        await processes.worker(env)
        yield a, b
    finally:
        await processes.close()
        await delete_namespace(Settings(amqp_url=amqp_url, namespace=env["EVENTWIRE_NAMESPACE"]))


@pytest_asyncio.fixture(loop_scope="module")
async def site(edges: tuple[EdgeProc, EdgeProc], browser: Browser) -> AsyncIterator[Site]:
    s = Site(*edges, pages=[], browser=browser)
    try:
        yield s
    finally:
        for page in s.pages:
            await page.close()
    errors = {page.user: page.errors for page in s.pages if page.errors}
    assert not errors, f"the page raised: {errors}"


async def push(edge: EdgeProc, user: str, event: dict[str, object]) -> None:
    """An event from outside (the external event endpoint): a marker that arrives after."""
    url = f"{edge.url}/api/v1/chats/outside/messages/outside/event"
    status, body = await post(url, event, token=token(user))
    assert status == 200, body


async def test_a_run_reaches_every_tab_of_its_user_and_no_one_else(site: Site) -> None:
    alice_a = await site.page(site.a, "alice")
    alice_b = await site.page(site.b, "alice")
    bob = await site.page(site.a, "bob")

    answer = await alice_a.send("showcase", "Show me every event")
    message_id = await answer.get_attribute("data-message-id")
    assert message_id
    for tab in (alice_a, alice_b):
        done = tab.answer(message_id)
        await expect(done).to_have_attribute("data-done", "true")
        await expect(done.locator(".content")).to_contain_text(SHOWCASE_TEXT)
        await expect(done.locator(".status")).to_have_text("Writing")  # the last shown status
        await expect(done.locator(".status")).not_to_have_class(re.compile("shimmer"))
        # Hidden statuses are kept in the history but never shown.
        await expect(done).to_have_attribute("data-hidden-statuses", "1")
        await expect(done).not_to_contain_text("Internal step")
        await expect(done.locator(".source summary")).to_have_text(
            ["[1] doc-1.md", "[2] doc-2.md", "[3] doc-3.md", "[4] cite.md"]
        )
        await expect(done.locator(".files img")).to_have_count(1)
        await expect(done.locator(".favorite")).to_have_count(1)
        await expect(tab.page.locator("#chat-title")).to_have_text("eventwire showcase")
        await expect(tab.page.locator("#chat-tags .tag")).to_have_text(["demo", "eventwire"])
        await expect(tab.page.locator(".toast-success")).to_have_text("Showcase done")
        types = await tab.types_for(message_id)
        assert {"status", "chat:message:delta", "chat:message", "chat:completion"} <= set(types)
        assert types.count("chat:message:delta") > 1  # streamed, not just the final text
        assert types[-1] == "chat:completion"

    # bob's tab shares edge A with the run's tab; alice's events all passed through it
    # before her final message reached her. A marker for bob arrives after any strays.
    await push(site.a, "bob", {"type": "chat:title", "data": "bob's marker"})
    await expect(bob.page.locator("#chat-title")).to_have_text("bob's marker")
    assert [e["data"]["type"] for e in await bob.received()] == ["chat:title"]
    await expect(bob.page.locator("article")).to_have_count(0)

    # The screenshot for the README: the status history and a source opened.
    await alice_a.answer(message_id).locator(".status-history summary").click()
    await alice_a.answer(message_id).locator(".source summary").first.click()
    ARTIFACTS.mkdir(exist_ok=True)
    await alice_a.page.screenshot(path=ARTIFACTS / "browser-chat.png")


async def test_cancel_in_the_confirmation_dialog_takes_the_plugins_cancel_branch(
    site: Site,
) -> None:
    alice_a = await site.page(site.a, "alice")
    alice_b = await site.page(site.b, "alice")
    answer = await alice_a.send("ask")
    await expect(alice_a.dialog).to_be_visible()
    await expect(alice_a.dialog).to_have_attribute("data-kind", "confirmation")
    await expect(alice_a.dialog.locator("#dialog-title")).to_have_text("Continue?")
    await expect(alice_a.dialog.locator("#dialog-message")).to_have_text("Run the demo?")
    await alice_a.dialog.locator("#dialog-cancel").click()

    await expect(answer).to_have_attribute("data-done", "true")
    await expect(answer.locator(".content")).to_have_text(re.compile("^You cancelled."))
    await expect(alice_a.page.locator(".toast-warning")).to_have_text("Cancelled")
    # The call asked one session: the other tab saw the answer but never the dialog.
    message_id = await answer.get_attribute("data-message-id")
    assert message_id
    await expect(alice_b.answer(message_id)).to_have_attribute("data-done", "true")
    assert "confirmation" not in await alice_b.types_for(message_id)
    await expect(alice_b.dialog).to_be_hidden()


async def test_input_reaches_the_plugin_and_execute_returns_the_pages_value(site: Site) -> None:
    alice = await site.page(site.b, "alice")
    marker = f"tab-{uuid.uuid4().hex[:8]}"
    await alice.page.evaluate("title => { document.title = title; }", marker)
    answer = await alice.send("ask")
    await expect(alice.dialog).to_have_attribute("data-kind", "confirmation")
    await alice.dialog.locator("#dialog-confirm").click()
    await expect(alice.dialog).to_have_attribute("data-kind", "input")
    await expect(alice.dialog.locator("#dialog-input")).to_have_attribute("placeholder", "name")
    await alice.dialog.locator("#dialog-input").fill("Ada Lovelace")
    await alice.dialog.locator("#dialog-input").press("Enter")  # Enter confirms, as a user would

    # `execute` ran `return document.title || 'no title'` in this page and acked its value.
    await expect(answer).to_have_attribute("data-done", "true")
    await expect(answer.locator(".content")).to_have_text(
        re.compile(f"^Hello Ada Lovelace. Your page says: {marker}")
    )
    await expect(alice.dialog).to_be_hidden()


async def test_stop_halts_a_streaming_pipe(site: Site) -> None:
    alice = await site.page(site.a, "alice")
    answer = await alice.send("story")
    await expect(answer.locator(".content")).to_contain_text("1. Once more")
    await expect(answer.locator(".status.shimmer")).to_contain_text("Writing chapter")
    async with alice.page.expect_response(re.compile("/api/tasks/stop/")) as stopped:
        await alice.page.click("#stop")
    assert (await stopped.value).status == 200

    await expect(answer).to_have_attribute("data-done", "true")
    await expect(answer.locator(".meta")).to_contain_text("stopped")
    await expect(alice.page.locator("#stop")).to_be_hidden()
    await expect(answer.locator(".status")).not_to_have_class(re.compile("shimmer"))
    message_id = await answer.get_attribute("data-message-id")
    assert message_id
    halted = await answer.locator(".content").inner_text()
    assert "The end" not in halted

    # Nothing more streams after the stop: a marker pushed now arrives after any stray delta.
    await push(site.b, "alice", {"type": "notification", "data": {"content": "marker"}})
    await expect(alice.page.locator(".toast-info")).to_have_text("marker")
    types = await alice.types_for(message_id)
    assert types[-2:] == ["chat:tasks:cancel", "chat:completion"]
    assert await answer.locator(".content").inner_text() == halted
