"""``eventwire run``, ``eventwire chat`` and ``eventwire listen``: see the system work.

``run`` starts an edge node and a worker on the bundled example plugins in one process
(``memory://`` when no broker answers), with the demo page's dev login on when it listens on
loopback; ``chat`` submits one message to a model over HTTP and
prints the events that come back, answering dialogs; ``listen`` just prints events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
from yarl import URL

from eventwire.auth import mint_token
from eventwire.errors import EventwireError
from eventwire.settings import Settings
from eventwire.signals import wait_for_signal
from eventwire_edge.recovering import RecoveringClient
from eventwire_edge.server import SOCKETIO_PATH, EdgeServer
from eventwire_edge.settings import EdgeSettings
from eventwire_worker.service import build_worker
from eventwire_worker.settings import WorkerSettings


class DemoSettings(EdgeSettings, WorkerSettings):
    """An edge node and a worker in one process: both services' settings."""


async def broker_answers(url: str, timeout: float = 1.0) -> bool:
    parsed = URL(url.strip())
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(parsed.host, parsed.port or 5672)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def run_demo(settings: DemoSettings, plugins: str | None) -> None:
    if not settings.uses_memory_bus and not any(
        [await broker_answers(url) for url in settings.amqp_urls]
    ):
        print(f"No broker answers at {settings.amqp_url}; using the in-process bus memory://")
        settings = settings.model_copy(update={"amqp_url": "memory://demo"})
    if plugins:
        settings = settings.model_copy(update={"plugins_dir": plugins})
    # The page signs in with any name only here, and never beyond this machine.
    settings = settings.model_copy(update={"dev_login": settings.host_is_loopback})
    server = EdgeServer(settings)
    cli = ".venv/bin/eventwire"
    await server.start()
    worker = build_worker(settings)  # memory:// buses of one URL share one broker
    try:
        await worker.start()
        models = [m["id"] for m in await worker.registry.models()]
        login = (
            "sign in with any user name"
            if settings.dev_login
            else f"sign in with a token from `{cli} token --user NAME` (dev login is off)"
        )
        lines = [
            f"\neventwire: edge node on {server.url}, worker on {len(models)} models "
            f"(bus: {', '.join(u.split('@')[-1] for u in settings.amqp_urls)})",
            f"Open the chat page: {server.url}/  ({login}; pick a model, e.g. showcase)",
            "Or try, in another terminal:",
            *(f"  {cli} chat --url {server.url} --model {m}" for m in models),
            f"  {cli} chat --url {server.url} --model ask --confirm no   (take the cancel branch)",
            f"  {cli} listen --url {server.url} --user demo     (print what reaches user demo)",
            "  then, while listen runs, a Tool call and an Action for user demo:",
            *(
                f"  curl -s -X POST {server.url}{path} -H 'Content-Type: application/json' "
                f"-H \"Authorization: Bearer $({cli} token --user demo)\" -d '{body}'"
                for path, body in (
                    (
                        "/api/chat/tools",
                        '{"tool_id":"clock_tool","name":"current_time",'
                        '"arguments":{"timezone_offset_hours":1},"chat_id":"c","id":"m"}',
                    ),
                    ("/api/chat/actions/thumbs_action", '{"chat_id":"c","id":"m"}'),
                )
            ),
            f"Health and counters: {server.url}/healthz  {server.url}/stats . Ctrl-C stops.\n",
        ]
        print("\n".join(lines), flush=True)
        await wait_for_signal()
    finally:
        await worker.drain(grace=5)
        await worker.close()
        await server.stop()


async def chat(
    url: str,
    user_id: str,
    model: str,
    text: str,
    *,
    answers: dict[str, Any],
    settings: Settings,
) -> None:
    """Connect as ``user_id``, submit ``text`` to ``model``, print events until it is done."""

    client = RecoveringClient()
    finished = asyncio.Event()

    async def on_event(data: dict[str, Any]) -> Any:
        event = data.get("data") or {}
        kind, payload = event.get("type"), event.get("data")
        print(f"{kind}: {json.dumps(payload)}", flush=True)
        if kind == "chat:completion" and isinstance(payload, dict) and payload.get("done"):
            finished.set()
        if kind == "execute":
            return {"error": "eventwire chat cannot run JavaScript; use the browser page"}
        return answers.get(kind) if isinstance(kind, str) else None

    client.on("events", on_event)
    token = mint_token(user_id, settings.secret)
    await client.connect(
        url, auth={"token": token}, socketio_path=SOCKETIO_PATH, transports=["websocket"]
    )
    try:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "session_id": client.get_sid(),
            "chat_id": "cli-chat",
            "id": "cli-message",
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{url}/api/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            answer = await response.json()
        if response.status != 200:
            raise EventwireError(f"submission refused ({response.status}): {answer}")
        print(f"task {answer['task_id']} submitted", flush=True)
        await finished.wait()
    finally:
        await client.disconnect()


async def listen(url: str, user_id: str, settings: Settings) -> None:
    """Connect as ``user_id``, print every event, answer calls with a canned value."""

    client = RecoveringClient(reconnection=True)
    answers: dict[str, Any] = {"confirmation": True, "input": "typed by eventwire listen"}

    async def on_event(data: dict[str, Any]) -> Any:
        print(json.dumps(data), flush=True)
        kind = (data.get("data") or {}).get("type")
        return answers.get(kind) if isinstance(kind, str) else None

    async def on_error(data: Any) -> None:
        print("error:", json.dumps(data), flush=True)

    client.on("events", on_event)
    client.on("error", on_error)
    token = mint_token(user_id, settings.secret)
    await client.connect(
        url, auth={"token": token}, socketio_path=SOCKETIO_PATH, transports=["websocket"]
    )
    print(f"connected as {user_id}, session {client.get_sid()}; Ctrl-C to stop", flush=True)
    try:
        await client.wait()
    finally:
        await client.disconnect()
