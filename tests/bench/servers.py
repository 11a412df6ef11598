"""The python-socketio side of the comparison, as a process the runner drives.

``--manager aiopika``: an ``AsyncServer`` scaled with ``AsyncAioPikaManager`` (the baseline).
``--manager owui``: Open WebUI's ``AsyncRedisRoomChannelManager`` (a Redis channel per room),
imported from the installed ``open-webui`` package in its own virtualenv (the peer).
``--manager eventwire``: the same server scaled with eventwire's ``EventwireManager``.
``--manager none``: a plain single ``AsyncServer`` (the no-broker floor; ``rate``/``burst``
requests make it emit to its own clients). Both authenticate like the edge (the same JWT
check) and put each socket in the room ``user.<id>``, so the same clients and events fit.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

import socketio
from aiohttp import web

from eventwire.auth import verify_token
from eventwire.errors import AuthenticationError
from eventwire_edge.server import SOCKETIO_PATH as PATH
from tests.bench import drive
from tests.bench.control import run
from tests.support.procs import serve

LISTEN_BACKLOG = 2048  # uvicorn's default (Open WebUI runs under it), and the edge's


class BenchAioPikaManager(socketio.AsyncAioPikaManager):  # type: ignore[misc]
    """Upstream's manager; its queue also auto-deletes so a run leaves nothing on the broker."""

    async def _queue(self, channel: Any, exchange: Any) -> Any:
        queue = await channel.declare_queue(
            durable=False, auto_delete=True, arguments={"x-expires": 300000}
        )
        await queue.bind(exchange)
        return queue


def owui_manager(channel: str, *, write_only: bool = False) -> Any:
    """Open WebUI 0.12.4's multi-replica manager (one Redis channel per room), from its package."""
    from open_webui.socket.redis_room_channels import AsyncRedisRoomChannelManager

    return AsyncRedisRoomChannelManager(
        os.environ["REDIS_URL"], channel=channel, write_only=write_only
    )


def make_server(manager: str, amqp_url: str, channel: str, secret: str) -> socketio.AsyncServer:
    client_manager: Any = None
    if manager == "aiopika":
        client_manager = BenchAioPikaManager(amqp_url, channel=channel)
    elif manager == "owui":
        client_manager = owui_manager(channel)
    elif manager == "eventwire":
        from eventwire_edge.sio import EventwireManager

        client_manager = EventwireManager(amqp_url, channel=channel)
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=client_manager, cors_allowed_origins="*"
    )

    async def connect(sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            identity = verify_token(token, secret)
        except AuthenticationError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        await sio.enter_room(sid, f"user.{identity.id}")

    sio.on("connect", connect)
    return sio


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--manager", choices=["aiopika", "owui", "eventwire", "none"], required=True
    )
    parser.add_argument("--channel", default="eventwire-bench")
    args = parser.parse_args()
    amqp_url = os.environ["AMQP_URL"]
    sio = make_server(args.manager, amqp_url, args.channel, os.environ["WEBUI_SECRET_KEY"])
    app = web.Application()
    sio.attach(app, socketio_path=PATH)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    # uvicorn's backlog, which Open WebUI runs under (and the edge's default): with Python's
    # 128 a reconnect storm overflows the accept queue and the dropped connects retry late.
    sock = socket.create_server(("127.0.0.1", 0), backlog=LISTEN_BACKLOG)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    await web.SockSite(runner, sock, backlog=LISTEN_BACKLOG).start()

    async def send(seq: int, user: str, t: int) -> None:
        await sio.emit("events", drive.payload(drive.delta_event(seq, t)), room=f"user.{user}")

    async def rate(users: list[str], rate: float, duration: float, first_seq: int = 0) -> Any:
        return await drive.at_rate(send, users, rate, duration, first_seq)

    async def burst(users: list[str], n: int, window: int, first_seq: int = 0) -> Any:
        return await drive.burst(send, users, n, window, first_seq)

    try:
        await serve({"rate": rate, "burst": burst}, {"url": url})
    finally:
        await runner.cleanup()
        close = getattr(sio.manager, "close", None)  # EventwireManager: delete its queue
        if close is not None:
            await close()


if __name__ == "__main__":
    run(main())
