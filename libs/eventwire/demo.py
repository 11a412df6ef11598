"""``eventwire run`` and ``eventwire listen``: see events arrive with nothing but this package.

The demo sender stands in for a pipeline worker: it emits a short, realistic sequence (status,
streamed text, final message, a toast) to one user every few seconds, through the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from yarl import URL

from .auth import mint_token
from .client import Eventwire
from .errors import EventwireError
from .settings import Settings

log = logging.getLogger(__name__)

WORDS = ["Events", "reach", "this", "tab", "through", "RabbitMQ,", "from", "another", "process."]


async def broker_answers(url: str, timeout: float = 1.0) -> bool:
    parsed = URL(url)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(parsed.host, parsed.port or 5672)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def run_demo(settings: Settings, user_id: str) -> None:
    from eventwire_edge.server import EdgeServer, wait_for_signal

    if not settings.uses_memory_bus and not await broker_answers(settings.amqp_url):
        print(f"No broker answers at {settings.amqp_url}; using the in-process bus memory://")
        settings = settings.model_copy(update={"amqp_url": "memory://demo"})
    server = EdgeServer(settings)
    await server.start()
    try:
        print(
            f"\neventwire edge node on {server.url} (bus: {settings.amqp_url.split('@')[-1]})\n"
            f"  see events arrive:   eventwire listen --url {server.url} --user {user_id}\n"
            f"  send one yourself:   eventwire emit --user {user_id} "
            '\'{"type":"notification","data":{"type":"info","content":"hi"}}\'\n'
            f"  health / stats:      {server.url}/healthz  {server.url}/stats\n",
            flush=True,
        )
        async with Eventwire(settings) as sender:  # memory:// buses of one URL share a broker
            demo = asyncio.create_task(_send_forever(sender, user_id))
            try:
                await wait_for_signal()
            finally:
                demo.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await demo
    finally:
        await server.stop()


async def _send_forever(ew: Eventwire, user_id: str) -> None:
    run = 0
    while True:
        run += 1
        emit = ew.event_emitter({"user_id": user_id, "chat_id": "demo", "message_id": f"m{run}"})
        try:
            await emit({"type": "status", "data": {"description": f"Run {run}: thinking"}})
            for word in WORDS:
                await emit({"type": "chat:message:delta", "data": {"content": word + " "}})
                await asyncio.sleep(0.1)
            await emit({"type": "chat:message", "data": {"content": " ".join(WORDS)}})
            await emit(
                {"type": "status", "data": {"description": f"Run {run}: done", "done": True}}
            )
            await emit(
                {"type": "notification", "data": {"type": "success", "content": f"run {run}"}}
            )
        except EventwireError as exc:
            log.warning("demo emit failed: %s", exc)
        await asyncio.sleep(3)


async def listen(url: str, user_id: str, settings: Settings) -> None:
    """Connect as ``user_id``, print every event, answer calls with a canned value."""
    import socketio

    client = socketio.AsyncClient(reconnection=True)
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
        url, auth={"token": token}, socketio_path="/ws/socket.io", transports=["websocket"]
    )
    print(f"connected as {user_id}, session {client.sid}; Ctrl-C to stop", flush=True)
    try:
        await client.wait()
    finally:
        await client.disconnect()
