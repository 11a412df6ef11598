"""Running one job: build the context Open WebUI would inject, call the plugin, stream the result.

A Pipe completion runs the deployer's Filters around it: ``inlet`` before, ``stream`` on each
chunk, ``outlet`` after. Output streams as throttled ``chat:message:delta`` events and ends with
a final ``chat:completion`` (``done: true``); an exception ends with an error the user sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventwire.auth import mint_event_token
from eventwire.client import EventCaller, EventEmitter, Eventwire
from eventwire.emitting import Throttle
from eventwire.errors import EventwireError, PluginError
from eventwire.protocol import Job

from .context import chunk_text, chunks, invoke, tool_arguments
from .plugins import Model, Plugin, Registry
from .request import app_config, make_request
from .settings import WorkerSettings
from .tabs import DirectTabs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    number: int
    redelivered: bool
    worker_id: str


@dataclass(frozen=True)
class _Turn:
    """One run of one job: what every plugin call in it shares."""

    job: Job
    attempt: Attempt
    model: Model | None  # the chat's model: ``__model__`` for every plugin


class Runner:
    def __init__(self, registry: Registry, client: Eventwire, settings: WorkerSettings) -> None:
        self.registry = registry
        self.client = client
        self.settings = settings
        self.tabs = DirectTabs(client, settings.event_caller_timeout)
        app_config()  # Open WebUI config from the environment: a bad value stops the start

    def emitter(self, job: Job) -> EventEmitter:
        emit = self.client.event_emitter(_request_info(job), route=job.relay)
        if job.relay is not None and job.direct is not None:  # some types skip the relay
            return self.tabs.emitter(_request_info(job), job.direct, emit)
        return emit

    def caller(self, job: Job) -> EventCaller:
        if job.relay is not None and job.direct is not None and job.direct.sid is not None:
            return self.tabs.caller(_request_info(job), job.direct, job.direct.sid)  # to the tab
        if job.relay is not None:  # the relay asks through its own __event_call__
            info = {**_request_info(job), "session_id": job.session_id or job.id}
            return self.client.event_call(info, route=job.relay)
        if job.session_id is None:

            async def __event_caller__(_event: dict[str, Any]) -> Any:
                return {"error": "this run has no session to ask", "code": "session_offline"}

            return __event_caller__
        return self.client.event_call(_request_info(job))

    async def run(
        self, job: Job, attempt: Attempt, *, handed_back: Callable[[], bool] = lambda: False
    ) -> None:
        """Run ``job``; a cancellation is a user's stop unless ``handed_back()`` (a drain)."""
        emit = self.emitter(job)
        output = RunOutput(emit, self.settings.stream_interval)
        try:
            turn = _Turn(job, attempt, await self.chat_model(job))
            if job.type == "completion":
                await self._completion(turn, output)
            elif job.type == "tool":
                await self._tool(turn, output)
            else:
                await self._action(turn, output)
        except asyncio.CancelledError:
            if not handed_back():  # a drained job runs again elsewhere: nothing ends here
                await asyncio.shield(output.stopped())
            raise
        except Exception as exc:
            await asyncio.shield(output.failed(exc))
            raise

    async def cancelled(self, job: Job) -> None:
        """``job`` was stopped before it ran: the user sees it end as a stopped run does."""
        await RunOutput(self.emitter(job), self.settings.stream_interval).stopped()

    # -- kinds -------------------------------------------------------------------------

    async def chat_model(self, job: Job) -> Model | None:
        """The model of the chat, as Open WebUI hands it to every plugin as ``__model__``."""
        model_id = job.plugin if job.type == "completion" else job.body.get("model")
        if not isinstance(model_id, str) or not model_id:
            return None
        return await self.registry.model(model_id)

    async def _completion(self, turn: _Turn, output: RunOutput) -> None:
        job = turn.job
        pipe = self.registry.pipe_for(job.plugin)
        body = job.body  # one dict shared by every hook: in-place edits are seen downstream
        filters = self.registry.filters(enabled=_filter_ids(body))
        for plugin in filters:
            if hasattr(plugin.instance, "inlet"):
                body = await self._hook(plugin.instance.inlet, plugin, turn, body) or body
        result = await invoke(pipe.instance.pipe, {"body": body}, self.extras(pipe, turn, body))
        streams = [p for p in filters if hasattr(p.instance, "stream")]
        async for chunk in chunks(result):
            text = chunk_text(chunk)
            for plugin in streams:
                event = {"choices": [{"delta": {"content": text}}]}
                event = await self._hook(plugin.instance.stream, plugin, turn, event, name="event")
                text = chunk_text(event) if event is not None else text
            await output.delta(text)
        await output.flush()
        final = output.content
        messages = list(body.get("messages") or [])
        outlet_body = {
            **body,
            "messages": [*messages, {"role": "assistant", "content": final, "id": job.message_id}],
            "chat_id": job.chat_id,
            "session_id": job.session_id,
            "id": job.message_id,
        }
        for plugin in filters:
            if hasattr(plugin.instance, "outlet"):
                outlet_body = (
                    await self._hook(plugin.instance.outlet, plugin, turn, outlet_body)
                    or outlet_body
                )
        last = (outlet_body.get("messages") or [{}])[-1]
        if isinstance(last, dict) and last.get("content") != final:
            final = str(last.get("content") or "")
            await output.emit({"type": "chat:message", "data": {"content": final}})
        await output.done(final)

    async def _tool(self, turn: _Turn, output: RunOutput) -> None:
        job = turn.job
        plugin = self.registry.get(job.plugin, "tools")
        name = job.method or ""
        method = getattr(plugin.instance, name, None) if not name.startswith("_") else None
        if method is None or not callable(method):
            raise PluginError(f"tool {plugin.id!r} has no method {name!r}")
        arguments = tool_arguments(method, job.arguments)
        result = await invoke(method, arguments, self.extras(plugin, turn, job.body))
        text = result if isinstance(result, str) else repr(result)
        await output.done(text, tool={"id": plugin.id, "name": name, "result": _plain(result)})

    async def _action(self, turn: _Turn, output: RunOutput) -> None:
        job = turn.job
        plugin = self.registry.get(job.plugin, "action")
        extras = self.extras(plugin, turn, job.body)
        result = await invoke(plugin.instance.action, {"body": job.body}, extras)
        await output.emit(
            {"type": "action:result", "data": {"action_id": plugin.id, "result": _plain(result)}}
        )

    async def _hook(
        self,
        fn: Any,
        plugin: Plugin,
        turn: _Turn,
        value: dict[str, Any],
        *,
        name: str = "body",
    ) -> Any:
        body = value if name == "body" else turn.job.body
        return await invoke(fn, {name: value}, self.extras(plugin, turn, body))

    # -- context -----------------------------------------------------------------------

    def extras(self, plugin: Plugin, turn: _Turn, body: dict[str, Any]) -> dict[str, Any]:
        """Every context parameter Open WebUI injects, for this plugin and job.

        ``__model__`` is the chat's model (never the plugin itself), for every kind.
        """
        job, model = turn.job, turn.model
        user: dict[str, Any] = job.user.model_dump(exclude={"valves"})
        if plugin.user_valves is not None:
            user["valves"] = plugin.user_valves(**job.user.valves.get(plugin.id, {}))
        files = body.setdefault("files", []) if isinstance(body.get("files", []), list) else []
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        metadata = self.metadata(job, turn.attempt, body, files)
        headers = dict(job.headers)  # the job carries no credentials (protocol.Job)
        if "event_token" in metadata:  # in their place: this run's own, scoped to its message
            headers["Authorization"] = f"Bearer {metadata['event_token']}"
        return {
            "__event_emitter__": self.emitter(job),
            "__event_call__": self.caller(job),
            "__user__": user,
            "__metadata__": metadata,
            "__request__": make_request(
                headers,
                path=_path_of(job),
                path_params={"action_id": job.plugin} if job.type == "action" else {},
                app_state={
                    "MODELS": {model["id"]: model} if model is not None else {},
                    "config": app_config(),
                },
            ),
            "__model__": model,
            "__messages__": messages,
            "__id__": plugin.id,
            "__files__": files,
            "__task__": body.get("task"),
            "__task_body__": body.get("task_body"),
            "__chat_id__": job.chat_id,
            "__session_id__": job.session_id,
            "__message_id__": job.message_id,
            "__tools__": {},
        }

    def metadata(
        self, job: Job, attempt: Attempt, body: dict[str, Any], files: list[Any]
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "user_id": job.user.id,
            "session_id": job.session_id,
            "chat_id": job.chat_id,
            "message_id": job.message_id,
            "task_id": job.id,
            "task": body.get("task"),
            "task_body": body.get("task_body"),
            "model": body.get("model") or job.plugin,
            "files": files,
            "features": body.get("features") or {},
            "variables": body.get("variables") or {},
            "tool_ids": body.get("tool_ids"),
            "filter_ids": _filter_ids(body),
            "attempt": attempt.number,
            "redelivered": attempt.redelivered,
            "worker_id": attempt.worker_id,
        }
        if job.chat_id and job.message_id:
            token = mint_event_token(
                job.user.id,
                job.chat_id,
                job.message_id,
                self.settings.secret,
                expires_in=self.settings.event_token_ttl,
            )
            meta["event_token"] = token
            meta["tool_headers"] = self.tool_headers(job, token)
        return meta

    def tool_headers(self, job: Job, token: str) -> dict[str, str]:
        """Headers for the external tools a plugin calls: they may push events back."""
        headers = {"Authorization": f"Bearer {token}"}
        if self.settings.forward_user_info_headers:
            headers |= {
                "X-Open-WebUI-Chat-Id": job.chat_id or "",
                "X-Open-WebUI-Message-Id": job.message_id or "",
                "X-OpenWebUI-User-Id": job.user.id,
                "X-OpenWebUI-User-Name": job.user.name or "",
                "X-OpenWebUI-User-Email": job.user.email or "",
                "X-OpenWebUI-User-Role": job.user.role,
            }
        return headers


class RunOutput:
    """What the user sees of a run: throttled deltas, then exactly one final event."""

    def __init__(self, emit: EventEmitter, interval: float) -> None:
        self.emit = emit
        self._throttle = Throttle(emit, interval)
        self.content = ""
        self._ended = False

    async def delta(self, text: str) -> None:
        self.content += text
        await self._throttle.send(text)

    async def flush(self) -> None:
        await self._throttle.flush()

    async def done(self, content: str, **extra: Any) -> None:
        self._ended = True
        await self.emit(
            {"type": "chat:completion", "data": {"done": True, "content": content, **extra}}
        )

    async def stopped(self) -> None:
        if self._ended:
            return
        self._ended = True
        await self._throttle.flush()
        await self.emit({"type": "chat:tasks:cancel", "data": {}})
        await self.emit(
            {"type": "chat:completion", "data": {"done": True, "content": self.content}}
        )

    async def failed(self, exc: BaseException) -> None:
        if self._ended:
            return
        self._ended = True
        await self._throttle.flush()
        error: dict[str, Any] = {"content": f"{type(exc).__name__}: {exc}"}
        if isinstance(exc, EventwireError):
            error["code"] = exc.code
        await self.emit(
            {
                "type": "chat:completion",
                "data": {"done": True, "content": self.content, "error": error},
            }
        )


def _filter_ids(body: dict[str, Any]) -> list[str]:
    """The toggleable filters this request switches on (Open WebUI's ``filter_ids``)."""
    ids = body.get("filter_ids")
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _request_info(job: Job) -> dict[str, Any]:
    return {
        "user_id": job.user.id,
        "session_id": job.session_id,
        "chat_id": job.chat_id,
        "message_id": job.message_id,
    }


def _path_of(job: Job) -> str:
    if job.type == "action":
        return f"/api/chat/actions/{job.plugin}"
    return "/api/chat/tools" if job.type == "tool" else "/api/chat/completions"


def _plain(value: Any) -> Any:
    """A msgpack-able rendering of a plugin's return value."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return repr(value)
