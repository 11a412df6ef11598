"""Open WebUI's tabs straight from this worker, for relayed runs whose job carries a
``DirectRoute`` (``eventwire.direct`` says which parts and why).

The emitter sends the route's event types to the user's room with Open WebUI's envelope and
hands every other event to the relay; the caller asks the run's tab directly and answers
as Open WebUI 0.12.4's ``__event_call__`` does (``open_webui/socket/main.py``): an
``interaction_id`` on input requests and ``request:interaction:done`` after them, its timeout
rule, and its ``{"error": ...}`` answers (plus eventwire's ``code``) — at once when the tab is
gone (the manager's mandatory publish), instead of after a timeout.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from eventwire.client import EventCaller, EventEmitter, Eventwire
from eventwire.errors import CallTimeout, ClientDisconnected, EventwireError, SessionOffline
from eventwire.events import validate_event
from eventwire.protocol import SOCKET_EVENT, DirectRoute
from eventwire.sio_peer import SioPeer

log = logging.getLogger(__name__)

INPUT_REQUESTS = frozenset({"confirmation", "input", "request:user_input", "request:elicitation"})
DISCONNECTED = "Client session disconnected."  # Open WebUI's answers, word for word
TIMED_OUT = "Event call timed out. The browser tab may be inactive or closed."
TIMEOUT_MS = 120_000  # Open WebUI's default for user-input requests


@dataclass
class DirectStats:
    """What this worker sent straight to tabs (read by its metrics)."""

    events: Counter[str] = field(default_factory=Counter)  # by event type
    calls: Counter[str] = field(default_factory=Counter)  # by outcome: ok or the error code


def call_timeout(event: dict[str, Any], owui_timeout: float | None, default: float) -> float:
    """Open WebUI's timeout for this call (``get_event_call``), never above ``default``."""
    kind, data = event.get("type"), event.get("data")
    data = data if isinstance(data, dict) else {}
    timeout = owui_timeout
    if kind in ("request:user_input", "request:elicitation") or (
        kind == "confirmation" and data.get("tool_call")
    ):
        ms = data.get("timeout_ms", TIMEOUT_MS)
        ms = ms if isinstance(ms, int) and not isinstance(ms, bool) else TIMEOUT_MS
        timeout = min(max(ms / 1000, 60), 240, owui_timeout or 240)
    return default if timeout is None else min(timeout, default)


class DirectTabs:
    def __init__(self, client: Eventwire, default_timeout: float) -> None:
        self.peer = SioPeer(client)
        self.default_timeout = default_timeout
        self.stats = DirectStats()

    def emitter(
        self, request_info: dict[str, Any], route: DirectRoute, via_relay: EventEmitter
    ) -> EventEmitter:
        """``request_info``: the run's ``user_id``, ``chat_id``, ``message_id``."""

        # Like Open WebUI's (and the SDK's), the closure's first cell is `request_info`.
        async def __event_emitter__(event_data: dict[str, Any]) -> None:
            kind = event_data.get("type") if isinstance(event_data, dict) else None
            if kind not in route.events:
                await via_relay(event_data)
                return
            validate_event(event_data)
            envelope = _envelope(request_info, event_data)
            await self.peer.emit(SOCKET_EVENT, envelope, room=route.room, namespace=route.namespace)
            self.stats.events[str(kind)] += 1

        return __event_emitter__

    def caller(self, request_info: dict[str, Any], route: DirectRoute, sid: str) -> EventCaller:
        request_info = {**request_info, "session_id": sid}

        async def __event_caller__(event_data: dict[str, Any]) -> Any:
            validate_event(event_data)
            interaction_id = None
            if event_data.get("type") in INPUT_REQUESTS:
                interaction_id = str(uuid.uuid4())
                data = event_data.get("data")
                data = data if isinstance(data, dict) else {}
                event_data = {**event_data, "data": {**data, "interaction_id": interaction_id}}
            timeout = call_timeout(event_data, route.call_timeout, self.default_timeout)
            try:
                answer = await self.peer.call(
                    SOCKET_EVENT,
                    _envelope(request_info, event_data),
                    to=sid,
                    timeout=timeout,
                    namespace=route.namespace,
                )
            except (SessionOffline, ClientDisconnected, CallTimeout) as exc:
                gone = not isinstance(exc, CallTimeout)
                return self._failed(request_info, exc, DISCONNECTED if gone else TIMED_OUT)
            except EventwireError as exc:
                return self._failed(request_info, exc, str(exc))
            finally:
                if interaction_id is not None:
                    await self._interaction_done(request_info, route, interaction_id)
            self.stats.calls["ok"] += 1
            return answer

        return __event_caller__

    def _failed(self, request_info: dict[str, Any], exc: EventwireError, text: str) -> Any:
        self.stats.calls[exc.code] += 1
        log.info("direct call to session %s failed: %s", request_info["session_id"], exc)
        return {"error": text, "code": exc.code}

    async def _interaction_done(
        self, request_info: dict[str, Any], route: DirectRoute, interaction_id: str
    ) -> None:
        """Open WebUI closes the dialog with this (e.g. once the call timed out)."""
        done = {"type": "request:interaction:done", "data": {"interaction_id": interaction_id}}
        with contextlib.suppress(EventwireError):  # the tab is gone: nothing to close
            await self.peer.emit(
                SOCKET_EVENT,
                _envelope(request_info, done),
                room=request_info["session_id"],
                namespace=route.namespace,
            )


def _envelope(request_info: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """What Open WebUI's emitter sends the tabs."""
    return {
        "chat_id": request_info["chat_id"],
        "message_id": request_info["message_id"],
        "data": event,
    }
