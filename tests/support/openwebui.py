"""A real Open WebUI (PyPI ``open-webui``, pinned in the Makefile) for end-to-end tests.

It runs from its own virtualenv (``make openwebui-venv``), never eventwire's: its pins
(python-socketio, redis, aiohttp, pydantic ...) are its own. Each ``OpenWebUI`` is one
``open-webui serve`` process on a free loopback port with a throw-away ``DATA_DIR``, booted
offline, started in its own process group and stopped by PID. Replicas sharing one database
and Redis get the same ``DATABASE_URL`` / ``REDIS_URL`` through ``env``.

The HTTP helpers speak Open WebUI's own API (``open_webui/routers/auths.py``,
``routers/functions.py``, ``main.py``); see /work/notes/openwebui.md for the details.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import aiohttp

from .cluster import SECRET
from .procs import Proc

REPO = Path(__file__).resolve().parents[2]
OWUI_VENV = Path(os.environ.get("OWUI_VENV", REPO / ".venv-openwebui"))
OWUI_BIN = OWUI_VENV / "bin"
OWUI_PYTHON = str(OWUI_BIN / "python")
BOOT_DEADLINE = 120.0  # seconds; a boot takes ~15-20 s on the 2-core machine
PASSWORD = "eventwire-Test-password-1"
PUBLIC_READ = {"principal_type": "user", "principal_id": "*", "permission": "read"}

# Offline and quiet: nothing at boot reaches the network, nothing runs that the tests did not
# ask for. Open WebUI seeds its persistent config from these on the first boot of a DATA_DIR.
BASE_ENV: dict[str, str] = {
    "WEBUI_SECRET_KEY": SECRET,  # the eventwire test secret: its tokens are Open WebUI's
    "OFFLINE_MODE": "true",  # no version check, no pip installs of plugin requirements
    "HF_HUB_OFFLINE": "1",
    "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
    # No embedding model: offline, loading the default one only fails (and costs seconds).
    "RAG_EMBEDDING_MODEL": "",
    "ENABLE_OLLAMA_API": "false",
    "ENABLE_OPENAI_API": "false",
    # The pipe under test is the only model, so Open WebUI would use it as its task model too:
    # every chat would call it again for a title, tags and follow-ups. Off, runs stay ours.
    "ENABLE_TITLE_GENERATION": "false",
    "ENABLE_TAGS_GENERATION": "false",
    "ENABLE_FOLLOW_UP_GENERATION": "false",
    "ENABLE_AUTOCOMPLETE_GENERATION": "false",
    # Users added after the first (admin) are active, not "pending" approval.
    "DEFAULT_USER_ROLE": "user",
    "ANONYMIZED_TELEMETRY": "false",  # chromadb
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
}


def missing_openwebui() -> str | None:
    if (OWUI_BIN / "open-webui").is_file():
        return None
    return (
        f"no Open WebUI at {OWUI_VENV}: run `make openwebui-venv` "
        "(open-webui==0.12.4 with the local CPU torch, in its own virtualenv)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OpenWebUIError(RuntimeError):
    """Open WebUI did not boot, or answered an API call with an error."""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    role: str
    token: str  # Open WebUI's session JWT (claims: id, typ, session_stamp ...)
    password: str = PASSWORD


class _ServeProc(Proc):
    """``open-webui serve``: stdout and stderr go to a log file (it logs a lot to stdout,
    which would fill an undrained pipe and stall the server)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], log: Path, name: str) -> None:
        super().__init__(*argv, env=env, name=name)
        self.log = log

    async def start(self) -> Self:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env={**os.environ, **self.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaps it whole
                cwd=self.log.parent,  # where serve would write .webui_secret_key
            )
        return self


class OpenWebUI:
    """One ``open-webui serve`` replica. ``start`` waits for ``GET /health``; ``stop`` ends
    its process group (SIGTERM, then SIGKILL)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        pythonpath: Sequence[str | Path] = (),
        port: int | None = None,
        name: str = "open-webui",
        command: Sequence[str] = (),
    ) -> None:
        """``env`` adds to (or overrides) ``BASE_ENV``: e.g. a shared ``DATABASE_URL``
        (``postgresql+psycopg://...``), ``WEBSOCKET_MANAGER=redis`` and ``REDIS_URL`` for
        replicas. ``pythonpath`` is prepended for Functions' imports. ``command`` replaces
        ``open-webui serve`` (e.g. a launcher); ``--host`` and ``--port`` are appended."""
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.env: dict[str, str] = {**BASE_ENV, "DATA_DIR": str(self.data_dir), **(env or {})}
        if pythonpath:
            self.env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
        self.command = list(command) or [str(OWUI_BIN / "open-webui"), "serve"]
        self.boot_seconds = 0.0
        self._proc: _ServeProc | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise OpenWebUIError(f"{self.name} is not started")
        return self._proc.pid

    async def start(self, deadline: float = BOOT_DEADLINE) -> Self:
        if (why := missing_openwebui()) is not None:
            raise OpenWebUIError(why)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [*self.command, "--host", "127.0.0.1", "--port", str(self.port)]
        self._proc = _ServeProc(argv, self.env, self.log, self.name)
        began = time.monotonic()
        await self._proc.start()
        try:
            async with asyncio.timeout(deadline):
                await self._until_healthy()
        except TimeoutError:
            await self.stop()
            raise OpenWebUIError(
                f"{self.name} not healthy within {deadline:.0f} s:\n{self.log_tail()}"
            ) from None
        except BaseException:
            await self.stop()  # exited while booting, or the test was cancelled: no orphans
            raise
        self.boot_seconds = time.monotonic() - began
        return self

    async def _until_healthy(self) -> None:
        # Uvicorn answers only once Open WebUI's lifespan (migrations, config) is done, so the
        # first 200 means ready. Polling is the only signal an HTTP server gives; each try
        # is bounded, the whole wait by the caller's deadline.
        proc = self._proc
        if proc is None or proc.proc is None:
            raise OpenWebUIError(f"{self.name} is not started")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while True:
                if proc.proc.returncode is not None:
                    raise OpenWebUIError(
                        f"{self.name} exited with {proc.proc.returncode} while booting:\n"
                        + self.log_tail()
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.25)

    async def stop(self) -> int | None:
        if self._proc is None:
            return None
        return await self._proc.stop(timeout=15.0)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a replica dying)."""
        if self._proc is not None:
            self._proc.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---- HTTP API ---------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, *, token: str | None = None, body: Any = None
    ) -> Any:
        """One API call; a non-2xx answer raises with Open WebUI's ``detail``."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
            http.request(method, self.url + path, headers=headers, json=body) as response,
        ):
            try:
                answer: Any = await response.json(content_type=None)
            except ValueError:
                answer = await response.text()
            if response.status >= 300:
                raise OpenWebUIError(f"{method} {path}: {response.status} {answer}")
            return answer

    async def signup_admin(self, name: str = "Admin", email: str = "admin@example.com") -> User:
        """The first sign-up of a database is its admin (and sign-ups then close)."""
        body = {"name": name, "email": email, "password": PASSWORD}
        admin = _user(await self.request("POST", "/api/v1/auths/signup", body=body))
        await self.quiet_ui(admin)
        return admin

    async def add_user(self, admin: User, name: str, email: str, *, role: str = "user") -> User:
        """A further user, added by the admin: active at once (``role`` user, not pending)."""
        body = {"name": name, "email": email, "password": PASSWORD, "role": role}
        user = _user(await self.request("POST", "/api/v1/auths/add", token=admin.token, body=body))
        await self.quiet_ui(user)
        return user

    async def quiet_ui(self, user: User) -> None:
        """No "What's New" modal over the chat (shown to admins until dismissed once)."""
        body = {"ui": {"showChangelog": False}}
        path = "/api/v1/users/user/settings/update"
        await self.request("POST", path, token=user.token, body=body)

    async def signin(self, email: str, password: str = PASSWORD) -> User:
        body = {"email": email, "password": password}
        return _user(await self.request("POST", "/api/v1/auths/signin", body=body))

    async def create_function(
        self,
        admin: User,
        function_id: str,
        content: str,
        *,
        name: str = "",
        description: str = "",
        active: bool = True,
        is_global: bool = False,
        public: bool = True,
    ) -> dict[str, Any]:
        """Create a Function from Python source; enable it (and make it global: filters and
        actions only). Open WebUI creates functions inactive; its toggles flip. ``public``
        lets every user read the models a pipe brings (otherwise only admins see them)."""
        body = {
            "id": function_id,
            "name": name or function_id,
            "content": content,
            "meta": {"description": description},
        }
        function: dict[str, Any] = await self.request(
            "POST", "/api/v1/functions/create", token=admin.token, body=body
        )
        path = f"/api/v1/functions/id/{function['id']}"
        if active and not function.get("is_active"):
            function = await self.request("POST", f"{path}/toggle", token=admin.token)
        if is_global and not function.get("is_global"):
            function = await self.request("POST", f"{path}/toggle/global", token=admin.token)
        if public and function["type"] == "pipe" and function.get("is_active"):
            for model in await self.models(admin):
                if model["id"] == function["id"] or model["id"].startswith(function["id"] + "."):
                    await self.make_model_public(admin, model["id"], model["name"])
        return function

    async def make_model_public(self, admin: User, model_id: str, name: str) -> None:
        """A model with no entry of its own in Open WebUI's model table is visible to admins
        only; give it one with a public read grant (what Admin > Models > access does)."""
        body = {
            "id": model_id,
            "name": name,
            "meta": {},
            "params": {},
            "access_grants": [PUBLIC_READ],
        }
        await self.request("POST", "/api/v1/models/create", token=admin.token, body=body)

    async def update_function(self, admin: User, function_id: str, content: str) -> None:
        function = await self.request(
            "GET", f"/api/v1/functions/id/{function_id}", token=admin.token
        )
        body = {
            "id": function_id,
            "name": function["name"],
            "content": content,
            "meta": function.get("meta") or {},
        }
        await self.request(
            "POST", f"/api/v1/functions/id/{function_id}/update", token=admin.token, body=body
        )

    async def set_valves(self, admin: User, function_id: str, valves: dict[str, Any]) -> None:
        await self.request(
            "POST",
            f"/api/v1/functions/id/{function_id}/valves/update",
            token=admin.token,
            body=valves,
        )

    async def models(self, user: User) -> list[dict[str, Any]]:
        """``GET /api/models``: pipes appear as ``<function id>`` or, for a manifold,
        ``<function id>.<sub id>``."""
        answer = await self.request("GET", "/api/models", token=user.token)
        models: list[dict[str, Any]] = answer["data"]
        return models

    async def chat(self, user: User, chat_id: str) -> dict[str, Any]:
        """``GET /api/v1/chats/{id}``: title, and the saved messages under
        ``chat.history.messages``."""
        chat: dict[str, Any] = await self.request(
            "GET", f"/api/v1/chats/{chat_id}", token=user.token
        )
        return chat

    async def chats(self, user: User) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = await self.request(
            "GET", "/api/v1/chats/list", token=user.token
        )
        return listed


async def direct_counts(metrics_url: str) -> dict[str, float]:
    """An eventwire worker's ``eventwire_direct_*`` samples (``/metrics``): what it sent
    straight to Open WebUI's tabs instead of through the Function's relay."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(f"{metrics_url}/metrics") as response,
    ):
        text = await response.text()
    lines = [line for line in text.splitlines() if line.startswith("eventwire_direct_")]
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines)}


def _user(answer: dict[str, Any]) -> User:
    if "token" not in answer:  # MFA challenge or pending account: not what tests set up
        raise OpenWebUIError(f"no session token in {answer}")
    return User(
        id=answer["id"],
        email=answer["email"],
        name=answer["name"],
        role=answer["role"],
        token=answer["token"],
    )
