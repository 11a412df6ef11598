"""The ``eventwire`` command: edge nodes, workers, the demo, tokens, one-shot emits and calls.

It wires the SDK and the services together and is the only code that imports both services.
A subcommand whose service is not installed says which extra brings it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TypeVar

from eventwire.logs import configure_logging, set_process_node
from eventwire.settings import Settings, get_settings

from .settings import CliSettings

S = TypeVar("S", bound=Settings)
EXTRA_OF = {"eventwire_edge": "edge", "socketio": "edge", "aiohttp": "edge"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        result: int = args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"eventwire {argv[0]}: needs the {extra!r} extra ({exc.name} is not installed): "
            f"pip install 'eventwire[{extra}]'",
            file=sys.stderr,
        )
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventwire",
        description="Open WebUI plugin events across processes, routed by RabbitMQ. "
        "Configuration comes from the environment (see README).",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    edge = sub.add_parser("edge", help="run a Socket.IO edge node")
    edge.add_argument("--host", help="listen address (EVENTWIRE_HOST)")
    edge.add_argument("--port", type=int, help="listen port, 0 = any free (EVENTWIRE_PORT)")
    edge.set_defaults(handler=_edge)

    worker = sub.add_parser("worker", help="run a pipeline worker on a plugin directory")
    worker.add_argument("--plugins", help="directory of plugin files (EVENTWIRE_PLUGINS_DIR)")
    worker.add_argument(
        "--concurrency", type=int, help="jobs at once (EVENTWIRE_WORKER_CONCURRENCY)"
    )
    worker.set_defaults(handler=_worker)

    run = sub.add_parser("run", help="edge node + worker on the examples (memory:// if no broker)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--plugins", help="plugin directory (default: the bundled examples)")
    run.set_defaults(handler=_run)

    chat = sub.add_parser("chat", help="send one message to a model and print the events")
    chat.add_argument("--url", default="http://127.0.0.1:8080")
    chat.add_argument("--user", default="demo")
    chat.add_argument("--model", required=True, help="pipe id (or pipe.sub for manifolds)")
    chat.add_argument(
        "--confirm", choices=["yes", "no"], default="yes", help="answer to confirmation dialogs"
    )
    chat.add_argument("--input", default="eventwire", help="answer to input dialogs")
    chat.add_argument("text", nargs="?", default="Hello!")
    chat.set_defaults(handler=_chat)

    token = sub.add_parser("token", help="print a signed user token (WEBUI_SECRET_KEY)")
    token.add_argument("--user", required=True)
    token.add_argument("--name")
    token.add_argument("--role", default="user")
    token.add_argument("--expires", type=float, default=3600.0, help="seconds")
    token.set_defaults(handler=_token)

    listen = sub.add_parser("listen", help="connect as a user and print the events that arrive")
    listen.add_argument("--url", default="http://127.0.0.1:8080")
    listen.add_argument("--user", default="demo")
    listen.set_defaults(handler=_listen)

    emit = sub.add_parser("emit", help="send one event to a user from this process")
    emit.add_argument("--user", required=True)
    emit.add_argument("--session", help="only this session")
    emit.add_argument("--chat", dest="chat_id")
    emit.add_argument("--message", dest="message_id")
    emit.add_argument("event", help='JSON, e.g. \'{"type":"status","data":{"description":"hi"}}\'')
    emit.set_defaults(handler=_emit)

    call = sub.add_parser("call", help="ask one session and print its answer")
    call.add_argument("--user", required=True)
    call.add_argument("--session", required=True)
    call.add_argument("--timeout", type=float)
    call.add_argument("event", help='JSON, e.g. \'{"type":"confirmation","data":{"title":"ok?"}}\'')
    call.set_defaults(handler=_call)
    return parser


def _with(settings: S, **overrides: Any) -> S:
    values = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=values) if values else settings


def _edge(args: argparse.Namespace, _settings: Settings) -> int:
    from eventwire_edge.server import EdgeServer, serve_forever
    from eventwire_edge.settings import get_edge_settings

    def ready(server: EdgeServer) -> None:
        # One parseable line: supervisors and tests wait for it (port 0 picks a free port).
        print(f"eventwire edge ready url={server.url} node={server.node.node_id}", flush=True)

    settings = _with(get_edge_settings(), host=args.host, port=args.port)

    async def serve() -> None:  # built inside, so a refused configuration is one clear line
        server = EdgeServer(settings)
        set_process_node(server.node.node_id)
        await serve_forever(server, ready)

    return _run_async(serve())


def _worker(args: argparse.Namespace, _settings: Settings) -> int:
    from eventwire_worker.service import serve_worker
    from eventwire_worker.settings import get_worker_settings

    settings = _with(
        get_worker_settings(), plugins_dir=args.plugins, worker_concurrency=args.concurrency
    )
    return _run_async(serve_worker(settings))


def _run(args: argparse.Namespace, _settings: Settings) -> int:
    from .demo import DemoSettings, run_demo

    settings = _with(DemoSettings(), host=args.host, port=args.port)
    return _run_async(run_demo(settings, args.plugins))


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import chat

    answers = {"confirmation": args.confirm == "yes", "input": args.input}
    return _run_async(
        chat(args.url, args.user, args.model, args.text, answers=answers, settings=settings)
    )


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from eventwire.auth import mint_token
    from eventwire.errors import ConfigurationError
    from eventwire.settings import refuse_default_secret

    try:
        refuse_default_secret(settings, what="eventwire token")
    except ConfigurationError as exc:
        print(f"eventwire: {exc.code}: {exc}", file=sys.stderr)
        return 1
    claims = {"role": args.role, **({"name": args.name} if args.name else {})}
    print(mint_token(args.user, settings.secret, expires_in=args.expires, **claims))
    return 0


def _listen(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import listen

    _run_async(listen(args.url, args.user, settings))
    return 0


def _emit(args: argparse.Namespace, settings: Settings) -> int:
    from eventwire.client import Eventwire

    async def go() -> None:
        async with Eventwire(settings) as ew:
            await ew.emit(
                _json(args.event),
                user_id=args.user,
                session_id=args.session,
                chat_id=args.chat_id,
                message_id=args.message_id,
            )

    return _run_async(go())


def _call(args: argparse.Namespace, settings: Settings) -> int:
    from eventwire.client import Eventwire

    async def go() -> None:
        async with Eventwire(settings) as ew:
            answer = await ew.call(
                _json(args.event),
                user_id=args.user,
                session_id=args.session,
                timeout=args.timeout,
            )
            print(json.dumps(answer))

    return _run_async(go())


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"event is not valid JSON: {exc}") from None


def _run_async(coro: Any) -> int:
    from eventwire.errors import EventwireError

    try:
        _run_loop(coro, CliSettings().loop)
    except EventwireError as exc:
        print(f"eventwire: {exc.code}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_loop(coro: Any, kind: str) -> None:
    """Run on uvloop when installed (extra ``speed``) unless EVENTWIRE_LOOP=asyncio."""
    if kind != "asyncio":
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                coro.close()
                raise SystemExit(
                    "EVENTWIRE_LOOP=uvloop but uvloop is not installed: "
                    "pip install 'eventwire[speed]'"
                ) from None
        else:
            uvloop.run(coro)
            return
    asyncio.run(coro)
