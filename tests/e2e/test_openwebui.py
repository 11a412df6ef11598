"""Real Open WebUI 0.12.4 runs its pipelines on eventwire workers (issue 11): the eventwire
Function pasted into Open WebUI, eventwire workers on their own processes, the real frontend in
Chromium. Open WebUI boots once for the module; each test opens its own tab.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from eventwire import Settings
from tests.support.browser import chromium
from tests.support.cluster import SECRET, delete_namespace
from tests.support.openwebui import OWUI_PYTHON, OpenWebUI, User, direct_counts, missing_openwebui
from tests.support.owui_page import OwuiPage, clean_tab
from tests.support.procs import WorkerProc

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ROOT = Path(__file__).parents[2]
FUNCTION = ROOT / "services" / "worker" / "openwebui" / "eventwire_workers.py"
PLUGINS = Path(__file__).parent / "owui_plugins"
FUNCTION_ID = "eventwire_workers"
ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass
class Site:
    owui: OpenWebUI
    admin: User
    env: dict[str, str]
    workers: list[WorkerProc] = field(default_factory=list)

    async def worker(self, name: str) -> WorkerProc:
        # In Open WebUI's own virtualenv, on its database: plugins may import open_webui.*.
        proc = WorkerProc(self.env, name, python=OWUI_PYTHON)
        self.workers.append(proc)
        return await proc.start()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(amqp_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    if (why := missing_openwebui()) is not None:
        pytest.fail(why, pytrace=False)
    data = tmp_path_factory.mktemp("openwebui") / "data"
    namespace = f"ewowui-{uuid.uuid4().hex[:8]}"
    env = {
        "AMQP_URL": amqp_url,
        "WEBUI_SECRET_KEY": SECRET,
        "EVENTWIRE_NAMESPACE": namespace,
        "EVENTWIRE_PLUGINS_DIR": str(PLUGINS),
        "EVENTWIRE_LOG_LEVEL": "WARNING",
        "EVENTWIRE_RECONNECT_INITIAL_DELAY": "0.1",
        "DATA_DIR": str(data),  # Open WebUI's database, for plugins using its models
    }
    owui = OpenWebUI(data)
    site = Site(owui, User("", "", "", "", ""), env)
    try:
        await owui.start()
        site.admin = await owui.signup_admin()
        await site.worker("worker-a")
        await site.worker("worker-b")
        await owui.create_function(
            site.admin, FUNCTION_ID, FUNCTION.read_text(), name="eventwire workers"
        )
        await owui.set_valves(
            site.admin, FUNCTION_ID, {"AMQP_URL": amqp_url, "NAMESPACE": namespace}
        )
        yield site
    finally:
        for proc in reversed(site.workers):
            await proc.stop()
        await owui.stop()
        await delete_namespace(Settings(amqp_url=amqp_url, namespace=namespace))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    async with chromium(tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def tab(site: Site, browser: Browser) -> AsyncIterator[OwuiPage]:
    async with clean_tab(browser, site.owui.url, site.admin) as page:
        yield page


def model(name: str) -> str:
    return f"{FUNCTION_ID}.{name}"


async def test_the_workers_pipes_are_open_webui_models(site: Site) -> None:
    ids = {m["id"] for m in await site.owui.models(site.admin)}
    assert {model("tour"), model("long"), model("short"), model("titler")} <= ids


async def test_status_dialogs_citation_notification_and_stream(site: Site, tab: OwuiPage) -> None:
    await tab.pick_model(model("tour"))
    answer = await tab.send("Show me the tour")
    await expect(tab.status(answer)).to_contain_text("Tour on worker")
    await expect(tab.content(answer)).to_contain_text("Welcome to the eventwire tour")
    await expect(tab.dialog("Proceed with the tour?")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # the README's picture is a copy
    await tab.page.screenshot(path=str(ARTIFACTS / "openwebui-worker.png"))
    await tab.confirm("Proceed with the tour?")
    await tab.answer_input("Ada", "Your name")  # the answer reaches the plugin on the worker:
    await tab.wait_toast("Worker greets Ada")  # its next event says so
    await expect(tab.content(answer)).to_contain_text(
        "Hello Ada, this answer was streamed by an eventwire worker."
    )
    await tab.wait_done()
    await expect(answer.get_by_role("button", name="Toggle 1 source")).to_be_visible()  # citation
    types = await tab.event_types()
    assert {"status", "confirmation", "input", "notification", "citation"} <= set(types)
    # Plain Open WebUI (its own Socket.IO manager): everything came through the relay.
    for worker in site.workers:
        assert await direct_counts(worker.metrics_url) == {}

    chat_id = tab.chat_id
    await tab.reload()  # saved by Open WebUI like any pipe's answer
    await expect(tab.content(tab.assistant())).to_contain_text("Hello Ada")
    chat = await site.owui.chat(site.admin, chat_id)
    saved = [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]
    assert "streamed by an eventwire worker" in saved[0]["content"]


async def test_stop_in_the_page_stops_the_workers_run(site: Site, tab: OwuiPage) -> None:
    await tab.pick_model(model("long"))
    answer = await tab.send("Run long")
    await expect(tab.content(answer)).to_contain_text("step3 ")
    await tab.stop()
    await tab.wait_toast("The worker saw the stop")  # the plugin got the cancellation
    chat_id = tab.chat_id
    await tab.reload()
    chat = await site.owui.chat(site.admin, chat_id)
    saved = [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]
    assert saved[0]["done"] is True
    assert "finished" not in saved[0]["content"]


async def test_a_worker_killed_mid_run_hands_the_job_to_another(site: Site, tab: OwuiPage) -> None:
    await tab.pick_model(model("short"))
    answer = await tab.send("Run short")
    await expect(tab.content(answer)).to_contain_text("s2 ")
    statuses = [e["data"]["data"] for e in await tab.events() if e["data"]["type"] == "status"]
    running = statuses[-1]["worker"]
    victim = next(w for w in site.workers if w.worker_id == running)
    victim.kill()
    await expect(tab.content(answer)).to_contain_text("finished on attempt 2", timeout=60_000)
    await tab.wait_done()
    site.workers.remove(victim)
    await site.worker("worker-c")  # the next test still has two


async def test_a_plugin_using_open_webuis_chats_model_sets_the_title(
    site: Site, tab: OwuiPage
) -> None:
    await tab.pick_model(model("titler"))
    answer = await tab.send("Give this chat a title")
    await expect(tab.content(answer)).to_contain_text("The chat is now titled: Titled on")
    await tab.wait_done()
    await expect(tab.title()).to_contain_text("Titled on")
    chat = await site.owui.chat(site.admin, tab.chat_id)  # in Open WebUI's own database
    assert chat["title"].startswith("Titled on")
    await tab.reload()
    await expect(tab.title()).to_contain_text("Titled on")
