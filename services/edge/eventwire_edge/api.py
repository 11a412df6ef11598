"""The edge's HTTP API, Open WebUI's paths: submit runs, stop them, list models, push events.

Every route but the demo's ``POST /api/dev/token`` authenticates with
``Authorization: Bearer <JWT>``; errors are JSON ``{"detail": ...}``: 401 for a missing,
invalid or expired token, 403 for a token that may not act on the target (or push that event
type), 404 for an unknown task or route, 405 for a wrong method, 413 for oversized bodies, 422
naming the bad field (bodies are read by ``jsontext``: no NaN / Infinity, which answer
``"code": "invalid_event"``, no nesting deeper than ``EVENTWIRE_MAX_JSON_DEPTH``, no integers
beyond 64 bits), 429 for a chat-scoped token over its rate. Nothing answers 500 but a bug,
and that too in JSON.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from eventwire import errors
from eventwire.auth import EVENT_SCOPE, Identity, mint_token, verify_token
from eventwire.events import validate_event
from eventwire.protocol import (
    CREDENTIAL_HEADERS,
    Job,
    JobUser,
    ListModels,
    Message,
    StopTask,
)
from eventwire.topology import MAX_KEY_BYTES, SESSION_PREFIX, TASK_PREFIX, WORKERS_KEY, task_key

from .gate import check_user_id
from .jsontext import NonFinite, NotJson, StrictJson
from .node import EdgeNode
from .settings import EdgeSettings

log = logging.getLogger(__name__)
F = TypeVar("F", bound=BaseModel)

STOP_TIMEOUT = 10.0
MODELS_TIMEOUT = 5.0
DEV_TOKEN_TTL = 12 * 3600.0
# Hop-by-hop headers, and credentials: a job rests in durable queues (the Job model drops
# credentials too, whoever builds it).
FORWARDED_HEADERS_SKIP = CREDENTIAL_HEADERS | {"content-length", "host", "connection"}


def _routable(prefix: str) -> AfterValidator:
    """A string that names a routing key after ``prefix`` (an AMQP short string)."""
    limit = MAX_KEY_BYTES - len(prefix)

    def check(value: str) -> str:
        if len(value.encode()) > limit:
            raise ValueError(f"over {limit} bytes")
        return value

    return AfterValidator(check)


class _Form(BaseModel):
    model_config = ConfigDict(extra="allow")

    session_id: Annotated[str, _routable(SESSION_PREFIX)] | None = None
    chat_id: str | None = None
    id: str | None = None  # the assistant message id, as Open WebUI names it


class CompletionForm(_Form):
    model: str
    messages: list[dict[str, Any]] = []
    stream: bool = True


class ToolForm(_Form):
    tool_id: str
    name: str
    arguments: dict[str, Any] = {}


class ActionForm(_Form):
    model: str | None = None
    messages: list[dict[str, Any]] = []


class EventForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    data: Any = None


class DevLoginForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")


class ApiError(Exception):
    def __init__(self, status: int, detail: Any, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code


def check_dev_login(settings: EdgeSettings) -> None:
    """The dev login hands out tokens for any name: only on a loopback address, never beyond."""
    if not settings.dev_login:
        return
    if not settings.host_is_loopback:
        raise errors.ConfigurationError(
            "EVENTWIRE_DEV_LOGIN=true lets anyone sign in as anyone; refused on host "
            f"{settings.host!r} "
            "(it is allowed on loopback addresses only, for local demos)"
        )
    log.warning("dev login is on: POST /api/dev/token gives a token for any user name")


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON ``{"detail"}``: the API's, aiohttp's own (404, 405, 413), and bugs."""
    try:
        return await handler(request)
    except ApiError as exc:
        body = {"detail": exc.detail, **({"code": exc.code} if exc.code else {})}
        return web.json_response(body, status=exc.status)
    except errors.EventwireError as exc:  # statuses from the one table in eventwire.errors
        return web.json_response(
            {"detail": exc.message, "code": exc.code}, status=errors.http_status(exc.code)
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like are answers, not errors
        return web.json_response({"detail": exc.reason}, status=exc.status, headers=_allow(exc))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"detail": "internal error (logged by the edge)"}, status=500)


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


class Api:
    def __init__(self, node: EdgeNode) -> None:
        self.node = node
        self._json_rules = StrictJson(node.settings.max_json_depth)

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/chat/completions", self.completions)
        app.router.add_post("/api/chat/tools", self.tools)
        app.router.add_post("/api/chat/actions/{action_id}", self.actions)
        app.router.add_post("/api/tasks/stop/{task_id}", self.stop)
        app.router.add_get("/api/models", self.models)
        app.router.add_post("/api/dev/token", self.dev_token)
        app.router.add_post(
            "/api/v1/chats/{chat_id}/messages/{message_id}/event", self.external_event
        )

    # -- helpers -----------------------------------------------------------------------

    def _identity(self, request: web.Request, *, scopes: tuple[str, ...] = ()) -> Identity:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "missing bearer token (Authorization: Bearer <JWT>)")
        try:
            identity = verify_token(token.strip(), self.node.settings.secret, scopes=scopes)
            return check_user_id(identity)
        except errors.AuthenticationError as exc:
            raise ApiError(401, exc.message) from None

    async def _json(self, request: web.Request) -> Any:
        try:
            return self._json_rules.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "request body too large") from None
        except NonFinite as exc:
            detail = [{"loc": ["body"], "msg": str(exc)}]
            raise ApiError(422, detail, code=errors.EventValidationError.code) from None
        except NotJson as exc:
            raise ApiError(422, [{"loc": ["body"], "msg": str(exc)}]) from None

    async def _form(self, request: web.Request, form: type[F]) -> F:
        raw = await self._json(request)
        try:
            return form.model_validate(raw)
        except ValidationError as exc:
            detail = [
                {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False)
            ]
            raise ApiError(422, detail) from None

    async def _submit(self, request: web.Request, identity: Identity, job: Job) -> web.Response:
        await self.node.jobs.submit(job)  # BrokerUnavailable: 503, PayloadTooLarge: 413
        log.info("task %s (%s %s) submitted by user %s", job.id, job.type, job.plugin, identity.id)
        return web.json_response({"status": True, "task_id": job.id})

    def _job(
        self, request: web.Request, identity: Identity, form: _Form, **fields: Any
    ) -> dict[str, Any]:
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in FORWARDED_HEADERS_SKIP
        }
        return {
            "id": uuid.uuid4().hex,
            "user": JobUser(
                id=identity.id, name=identity.name, email=identity.email, role=identity.role
            ),
            "session_id": form.session_id,
            "chat_id": form.chat_id,
            "message_id": form.id,
            "headers": headers,
            **fields,
        }

    # -- routes ------------------------------------------------------------------------

    async def completions(self, request: web.Request) -> web.Response:
        identity = self._identity(request)
        form = await self._form(request, CompletionForm)
        job = Job(
            type="completion",
            plugin=form.model,
            body=form.model_dump(),
            **self._job(request, identity, form),
        )
        return await self._submit(request, identity, job)

    async def tools(self, request: web.Request) -> web.Response:
        identity = self._identity(request)
        form = await self._form(request, ToolForm)
        # `__x__` names are the context a worker injects (identity, chat, helpers): never a
        # caller's. Which other names a tool declares only its worker knows: it refuses the
        # rest with `invalid_arguments` on the run.
        injected = sorted(name for name in form.arguments if name.startswith("__"))
        if injected:
            raise ApiError(
                422,
                [
                    {
                        "loc": ["body", "arguments", name],
                        "msg": f"{name!r} is injected context, not a tool argument",
                        "type": "injected_argument",
                    }
                    for name in injected
                ],
            )
        job = Job(
            type="tool",
            plugin=form.tool_id,
            method=form.name,
            arguments=form.arguments,
            body=form.model_dump(exclude={"tool_id", "name", "arguments"}),
            **self._job(request, identity, form),
        )
        return await self._submit(request, identity, job)

    async def actions(self, request: web.Request) -> web.Response:
        identity = self._identity(request)
        form = await self._form(request, ActionForm)
        job = Job(
            type="action",
            plugin=request.match_info["action_id"],
            body=form.model_dump(),
            **self._job(request, identity, form),
        )
        return await self._submit(request, identity, job)

    async def stop(self, request: web.Request) -> web.Response:
        identity = self._identity(request)
        task_id = request.match_info["task_id"]
        size = len(task_id.encode())
        if size > MAX_KEY_BYTES - len(TASK_PREFIX):
            raise ApiError(
                404,
                f"Task id is {size} bytes, over {MAX_KEY_BYTES - len(TASK_PREFIX)}: no task "
                "has such an id",
            )

        def build(call_id: str, reply_to: str) -> Message:
            return StopTask(
                id=call_id,
                task_id=task_id,
                user_id=identity.id,
                role=identity.role,
                reply_to=reply_to,
            )

        try:
            try:
                reply = await self.node.requests.request(task_key(task_id), build, STOP_TIMEOUT)
            except errors.Unroutable:
                # No worker runs it: it may be queued. Every worker remembers the stop, and
                # the one that takes the job cancels it (if it is the stopper's, or an admin's).
                reply = await self.node.requests.request(WORKERS_KEY, build, STOP_TIMEOUT)
        except errors.Unroutable:
            raise ApiError(
                404, f"Task {task_id} not found (not running, and no worker is up to cancel it)"
            ) from None
        except TimeoutError:
            raise ApiError(504, f"the worker running task {task_id} did not answer") from None
        if not reply.ok:
            raise ApiError(errors.http_status(reply.error or ""), reply.message)
        message = (
            f"Task {task_id} is not running: if it is queued, it will not start."
            if reply.value == "queued"
            else f"Task {task_id} successfully stopped."
        )
        return web.json_response({"status": True, "message": message})

    async def external_event(self, request: web.Request) -> web.Response:
        """Push an event into a chat message: the user's own token any type (Open WebUI's
        behaviour); a chat-scoped token only allowed types, at its rate, under the packet limit.
        """
        identity = self._identity(request, scopes=(EVENT_SCOPE,))
        chat_id = request.match_info["chat_id"]
        message_id = request.match_info["message_id"]
        scoped = identity.scope == EVENT_SCOPE
        if scoped and (identity.chat_id != chat_id or identity.message_id != message_id):
            raise ApiError(403, "this token may only push events to its own chat message")
        gate = self.node.scoped_events
        if scoped:
            # Before the body is read: a flood costs the edge no parsing, nor log lines.
            try:
                gate.admit_rate(identity, chat_id, message_id, asyncio.get_running_loop().time())
            except errors.RateLimited as exc:
                raise ApiError(429, exc.message) from None
        form = await self._form(request, EventForm)
        event = form.model_dump()
        try:
            if scoped:
                gate.admit_event(identity, event)
            validate_event(event)
            await self.node.client.emit(
                event, user_id=identity.id, chat_id=chat_id, message_id=message_id
            )
        except errors.PermissionDenied as exc:
            raise ApiError(403, exc.message) from None
        except errors.EventValidationError as exc:
            raise ApiError(422, [{"loc": ["body", "data"], "msg": exc.message}]) from None
        if scoped:
            gate.pushed()
        return web.json_response({"status": True})

    async def models(self, request: web.Request) -> web.Response:
        """Open WebUI's model list: the pipes of whichever worker answers first.

        Workers on one namespace share one job queue, so each must offer the same plugins
        (a job for a model one of them lacks fails on it); one answer stands for all.
        """
        self._identity(request)

        def build(call_id: str, reply_to: str) -> Message:
            return ListModels(id=call_id, reply_to=reply_to)

        try:
            reply = await self.node.requests.request(WORKERS_KEY, build, MODELS_TIMEOUT)
        except errors.Unroutable:
            raise ApiError(503, "no worker is running: start one with `eventwire worker`") from None
        except TimeoutError:
            raise ApiError(504, "no worker answered the model list in time") from None
        if not reply.ok:
            raise ApiError(502, f"the worker could not list its models: {reply.message}")
        models = [
            {**model, "object": "model", "owned_by": "eventwire"} for model in reply.value or []
        ]
        return web.json_response({"data": models})

    async def dev_token(self, request: web.Request) -> web.Response:
        """The demo page's login: a token for any user name, only with EVENTWIRE_DEV_LOGIN."""
        if not self.node.settings.dev_login:
            raise ApiError(
                403,
                "dev login is off (it is for local demos: EVENTWIRE_DEV_LOGIN=true); "
                "sign in with a token instead, e.g. from `eventwire token --user NAME`",
            )
        form = await self._form(request, DevLoginForm)
        token = mint_token(
            form.name,
            self.node.settings.secret,
            expires_in=DEV_TOKEN_TTL,
            name=form.name,
            role="user",
        )
        log.warning("dev login: issued a token for user %s", form.name)
        return web.json_response(
            {"token": token, "user": {"id": form.name, "name": form.name, "role": "user"}}
        )
