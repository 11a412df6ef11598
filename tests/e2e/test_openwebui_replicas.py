"""Two real Open WebUI 0.12.4 replicas on eventwire's python-socketio manager (issue 12).

Both run through the launcher (``eventwire openwebui``) from Open WebUI's own virtualenv and
share one PostgreSQL database, one private Redis (Open WebUI's session pools, task registry and
Stop commands) and RabbitMQ (Socket.IO between replicas). HAProxy puts the browser's socket on
replica A and its HTTP requests on replica B, so a run executes on B while its tab listens on
A. The eventwire workers Function runs there too, with a worker whose notifications and
dialogs go straight to the tab. Boots once for the module; the last test kills replica A.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from eventwire import Settings
from eventwire_edge.sio import EventwireManager
from tests.support.browser import WAIT_MS, chromium
from tests.support.cluster import SECRET, delete_namespace
from tests.support.openwebui import OWUI_BIN, OpenWebUI, User, direct_counts, missing_openwebui
from tests.support.owui_balancer import Balancer, missing_haproxy, server
from tests.support.owui_page import OwuiPage, clean_tab
from tests.support.owui_socket import OwuiSocket
from tests.support.owui_state import RedisServer, missing_backing_services, postgres_database
from tests.support.procs import WorkerProc

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

ROOT = Path(__file__).parents[2]
# This checkout's code, whichever virtualenv's editable install points elsewhere.
SOURCES = [ROOT / "libs", *(ROOT / "services" / s for s in ("edge", "worker", "cli"))]
LAUNCHER = [str(OWUI_BIN / "eventwire"), "openwebui"]
PIPE = Path(__file__).parent / "owui_functions" / "replica_pipe.py"
PIPE_ID = "replica_pipe"
WORKERS_FUNCTION = ROOT / "services" / "worker" / "openwebui" / "eventwire_workers.py"
WORKERS_ID = "eventwire_workers"
WORKER_PLUGINS = Path(__file__).parent / "owui_replica_plugins"
WAIT_S = WAIT_MS / 1000


@dataclass
class Deployment:
    a: OpenWebUI
    b: OpenWebUI
    balancer: Balancer
    redis: RedisServer
    admin: User
    bob: User
    channel_id: str
    amqp_url: str
    namespace: str
    worker: WorkerProc


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployment(
    amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    for why in (missing_openwebui(), missing_backing_services(), missing_haproxy()):
        if why is not None:
            pytest.fail(why, pytrace=False)
    root = tmp_path_factory.mktemp("owui-replicas")
    namespace = f"ewrep-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:  # torn down in reverse: balancer, B, A, Redis, DB
        stack.push_async_callback(
            delete_namespace, Settings(amqp_url=amqp_url, namespace=namespace)
        )
        database = await stack.enter_async_context(postgres_database())
        redis = RedisServer(root / "redis.log")
        stack.push_async_callback(redis.stop)
        await redis.start()
        env = {
            "DATABASE_URL": database,
            "REDIS_URL": redis.url,
            "WEBSOCKET_MANAGER": "redis",
            "ENABLE_CHANNELS": "true",
            "AMQP_URL": amqp_url,
            "EVENTWIRE_NAMESPACE": namespace,
            "EVENTWIRE_RECONNECT_INITIAL_DELAY": "0.1",
        }
        replicas = []
        for name in ("a", "b"):  # one after the other: both would race in Alembic's migrations
            replica = OpenWebUI(
                root / name,
                env={**env, "OWUI_REPLICA": name},
                pythonpath=SOURCES,
                name=f"replica-{name}",
                command=LAUNCHER,
            )
            stack.push_async_callback(replica.stop)
            replicas.append(await replica.start())
        a, b = replicas
        worker_env = {
            "AMQP_URL": amqp_url,
            "EVENTWIRE_NAMESPACE": namespace,
            "WEBUI_SECRET_KEY": SECRET,
            "EVENTWIRE_PLUGINS_DIR": str(WORKER_PLUGINS),
            "EVENTWIRE_LOG_LEVEL": "WARNING",
        }
        worker = WorkerProc(worker_env, "worker")
        stack.push_async_callback(worker.stop)
        await worker.start()
        balancer = Balancer(root, a.port, b.port)
        stack.push_async_callback(balancer.stop)
        await balancer.start()
        admin = await b.signup_admin()
        bob = await b.add_user(admin, "Bob", "bob@example.com")
        await b.create_function(admin, PIPE_ID, PIPE.read_text(), name="Replica Pipe")
        await b.create_function(
            admin, WORKERS_ID, WORKERS_FUNCTION.read_text(), name="eventwire workers"
        )  # its valves' default DIRECT=auto: it finds the replica's EventwireManager itself
        await b.set_valves(admin, WORKERS_ID, {"AMQP_URL": amqp_url, "NAMESPACE": namespace})
        # Before any tab opens: a socket joins its channels' rooms when it announces itself.
        channel = await b.request(
            "POST",
            "/api/v1/channels/create",
            token=admin.token,
            body={"name": "replicas", "type": "group", "user_ids": [bob.id]},
        )
        yield Deployment(
            a, b, balancer, redis, admin, bob, channel["id"], amqp_url, namespace, worker
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    async with chromium(tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def tab(deployment: Deployment, browser: Browser) -> AsyncIterator[OwuiPage]:
    """The admin's tab, through the balancer: its socket on A, its requests on B."""
    async with clean_tab(browser, deployment.balancer.url, deployment.admin) as page:
        yield page


async def socket_on(deployment: Deployment, replica: str) -> None:
    """Wait until the balancer holds a websocket to ``replica`` and none to the other."""
    other = "b" if replica == "a" else "a"
    async with asyncio.timeout(WAIT_S):
        await deployment.balancer.until(
            lambda s: (
                server(s, "sockets", replica).current >= 1
                and server(s, "sockets", other).current == 0
            )
        )


async def test_a_run_on_b_streams_and_asks_in_the_tab_whose_socket_is_on_a(
    deployment: Deployment, tab: OwuiPage
) -> None:
    await socket_on(deployment, "a")
    await tab.pick_model(PIPE_ID)
    answer = await tab.send("Say hello")
    await expect(tab.status(answer)).to_contain_text("Running on replica b")
    await expect(tab.content(answer)).to_contain_text("Hello from replica b.")
    await tab.confirm("Carry on?")  # asked by B through A; the answer goes back to B
    await expect(tab.content(answer)).to_contain_text("Replica b got the answer True.")
    await tab.wait_done()
    await expect(tab.status(answer)).to_contain_text("Done on replica b")
    # Socket.IO between the replicas went over RabbitMQ: nobody listens on Redis for it.
    assert await deployment.redis.pubsub_channels("socketio*") == []
    chat = await deployment.b.chat(deployment.admin, tab.chat_id)
    saved = [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]
    assert "Replica b got the answer True." in saved[0]["content"]


async def test_a_process_outside_open_webui_emits_and_calls_straight_to_the_tab(
    deployment: Deployment, tab: OwuiPage
) -> None:
    """What a worker could do with Open WebUI on this manager: no relay, no Open WebUI code."""
    await tab.pick_model(PIPE_ID)
    answer = await tab.send("Say hello")
    await tab.confirm("Carry on?")
    await tab.wait_done()
    message_id = str(await answer.get_attribute("id")).removeprefix("message-")
    worker = EventwireManager(deployment.amqp_url, channel=deployment.namespace, write_only=True)
    try:
        envelope = {"chat_id": tab.chat_id, "message_id": message_id}
        status = {"type": "status", "data": {"description": "Straight from a worker process"}}
        # Open WebUI's own rooms and envelope: every tab of the user, then the one session.
        user_room = f"user:{deployment.admin.id}"
        await worker.emit("events", {**envelope, "data": status}, room=user_room)
        await expect(tab.status(answer)).to_contain_text("Straight from a worker process")
        ask = {"type": "confirmation", "data": {"title": "Straight to the tab?", "message": "?"}}
        asked = asyncio.create_task(
            worker.call("events", {**envelope, "data": ask}, to=await tab.sid(), timeout=WAIT_S)
        )
        await tab.confirm("Straight to the tab?")
        assert await asked is True
    finally:
        await worker.close()


async def test_a_worker_pipe_notifies_and_asks_the_tab_straight_and_its_answer_is_saved(
    deployment: Deployment, tab: OwuiPage
) -> None:
    """The workers' Function runs on B; its worker reaches the tab on A without the relay."""
    await socket_on(deployment, "a")
    before = await direct_counts(deployment.worker.metrics_url)
    await tab.pick_model(f"{WORKERS_ID}.split")
    answer = await tab.send("Split it")
    await expect(tab.status(answer)).to_contain_text("Split run on worker")  # relayed
    await tab.wait_toast("says hi")  # direct
    await tab.confirm("Straight to the tab?")  # direct, and the answer back to the worker
    await expect(tab.content(answer)).to_contain_text("The worker got the answer True.")
    await tab.wait_done()
    await expect(tab.status(answer)).to_contain_text("Split run done")
    # Only the direct path counts these: through the relay they would stay as they were.
    after = await direct_counts(deployment.worker.metrics_url)
    notifications = 'eventwire_direct_events_total{type="notification"}'
    calls_ok = 'eventwire_direct_calls_total{outcome="ok"}'
    assert after[notifications] - before.get(notifications, 0) == 1
    assert after[calls_ok] - before.get(calls_ok, 0) == 1
    assert set(after) - {notifications, calls_ok} == set(before) - {notifications, calls_ok}
    # What Open WebUI saves came through the relay: the streamed answer and the statuses.
    chat = await deployment.b.chat(deployment.admin, tab.chat_id)
    saved = [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]
    assert "The worker got the answer True." in saved[0]["content"]
    statuses = [s.get("description") for s in saved[0].get("statusHistory", [])]
    assert statuses[-1] == "Split run done" and statuses[0].startswith("Split run on worker")


async def test_stop_in_the_tab_on_a_stops_the_run_on_b(
    deployment: Deployment, tab: OwuiPage
) -> None:
    await socket_on(deployment, "a")
    await tab.pick_model(PIPE_ID)
    answer = await tab.send("Please tick")
    await expect(tab.content(answer)).to_contain_text("tick3 ")
    await tab.stop()
    await tab.wait_toast("Stopped on replica b")  # the pipe on B saw the cancellation
    chat = await deployment.b.chat(deployment.admin, tab.chat_id)
    saved = [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]
    assert saved[0]["done"] is True


async def test_channel_messages_and_typing_cross_replicas(
    deployment: Deployment, tab: OwuiPage
) -> None:
    await tab.page.goto(f"{deployment.balancer.url}/channels/{deployment.channel_id}")
    await tab.ready()
    await socket_on(deployment, "a")
    admin, channel_id = deployment.admin, deployment.channel_id
    async with OwuiSocket(deployment.b.url, deployment.bob) as bob:  # Bob's socket: on B
        # The admin types on A; Bob's socket on B sees it (a client event, A -> B).
        await tab.page.click("#chat-input")
        await tab.page.keyboard.type("Hi Bob")
        async with asyncio.timeout(WAIT_S):
            typing = await bob.channel_event(
                lambda p: p["data"]["type"] == "typing" and p["user"]["id"] == admin.id
            )
        assert typing["channel_id"] == channel_id
        # Bob posts; the admin's tab on A shows it (B -> A).
        text = f"Bob writes from replica B {uuid.uuid4().hex[:6]}"
        await deployment.b.request(
            "POST",
            f"/api/v1/channels/{channel_id}/messages/post",
            token=deployment.bob.token,
            body={"content": text},
        )
        await expect(tab.page.get_by_text(text)).to_be_visible()


async def test_both_users_are_listed_and_counted_active(
    deployment: Deployment, tab: OwuiPage
) -> None:
    async with OwuiSocket(deployment.b.url, deployment.bob) as bob:
        await bob.client.emit("heartbeat", {})  # what Bob's tab sends: he is active
        await tab.page.goto(f"{deployment.balancer.url}/admin/users")
        await expect(tab.page.get_by_text("bob@example.com")).to_be_visible()
        await expect(tab.page.get_by_text(deployment.admin.email)).to_be_visible()
        # The user menu's "Active Users" count (GET /api/usage, served by B).
        await tab.page.locator('img[aria-label="Open User Profile Menu"]:visible').first.click()
        count = tab.page.locator('[role="menuitem"] span.bg-green-500 + span')
        await expect(count).to_have_text("2")


async def test_replica_a_killed_the_tab_reconnects_to_b_and_keeps_working(
    deployment: Deployment, tab: OwuiPage
) -> None:
    await socket_on(deployment, "a")
    deployment.a.kill()
    await tab.page.wait_for_function("window.__owui.connected === 0")
    await tab.page.wait_for_function("window.__owui.connected > 0")  # through the balancer
    await socket_on(deployment, "b")
    await tab.pick_model(PIPE_ID)
    answer = await tab.send("Say hello again")
    await expect(tab.status(answer)).to_contain_text("Running on replica b")
    await tab.confirm("Carry on?")
    await expect(tab.content(answer)).to_contain_text("Replica b got the answer True.")
    await tab.wait_done()
