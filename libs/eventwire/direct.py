"""Which parts of a relayed run skip the relay and go straight to Open WebUI's tabs.

With Open WebUI on ``EventwireManager`` (``eventwire openwebui``) on the workers' broker and
namespace, a worker reaches the user's tabs as Open WebUI itself does (``sio_peer``): one hop
instead of worker -> relay (the Function, in Open WebUI) -> Open WebUI's emitter -> the tab.
The relay stays for whatever Open WebUI must persist or transform, because Open WebUI 0.12.4's
``__event_emitter__`` (``open_webui/socket/main.py``) does more than emit:

- the streamed text is the Function's output, which Open WebUI saves as the answer;
- ``status``, ``message``, ``replace``, ``embeds``, ``files``, ``source`` / ``citation`` are
  written into the chat row (a direct ``status`` would vanish from the message on reload);
- ``status``, ``source``, ``citation``, ``files``, ``embeds``, ``chat:message:error``,
  ``chat:tasks:cancel``, ``chat:message:follow_ups`` and the completion are copied
  (``shared``) to the ``chat:<id>`` room for other users viewing the chat;
- order: events on one path keep their order, not across the two paths, so events whose
  meaning depends on the stream (``chat:message`` replaces the streamed text) stay with it.

What is left goes direct: ``DIRECT_EVENT_TYPES`` (only displayed, by every tab of the user, in
any order), and every ``__event_call__`` (a dialog or ``execute`` in the one tab that asked),
which the worker shapes as Open WebUI's caller does (``interaction_id``, its timeout, its
error answers). The Function checks the session pool once, as Open WebUI's caller does per
call: a session that is not the user's own gets no direct calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from .protocol import DirectRoute
from .settings import Settings
from .topology import MAX_CALL_TIMEOUT

DIRECT_EVENT_TYPES: tuple[str, ...] = ("notification", "chat:title", "chat:tags")
# Open WebUI's other emitters: a channel message's pipe is rendered into the channel message.
CHANNEL_CHAT_PREFIX = "channel:"
AMQP_PORTS = {"amqp": 5672, "amqps": 5671}


def same_broker(a: str, b: str) -> bool:
    """Whether two ``AMQP_URL`` values (each one URL or a comma-separated cluster list) share
    a broker node and virtual host, credentials aside; ``memory://`` URLs only themselves."""
    return bool(_endpoints(a) & _endpoints(b))


def _endpoints(urls: str) -> set[tuple[str, str, int | None, str]]:
    found: set[tuple[str, str, int | None, str]] = set()
    for url in (u.strip() for u in urls.split(",") if u.strip()):
        parts = urlsplit(url)
        if parts.scheme == "memory":
            found.add((url, "", None, ""))
            continue
        host = (parts.hostname or "localhost").lower()
        host = "127.0.0.1" if host == "localhost" else host
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        found.add((parts.scheme, host, parts.port or AMQP_PORTS.get(parts.scheme), vhost))
    return found


def on_this_bus(manager_settings: Settings | None, amqp_url: str, namespace: str) -> bool:
    """Whether Open WebUI's manager (its ``settings``; None: not an ``EventwireManager``)
    shares the workers' broker and namespace, so the workers' emits reach its sockets."""
    if manager_settings is None:
        return False
    return manager_settings.namespace == namespace and same_broker(
        manager_settings.amqp_url, amqp_url
    )


def direct_route(
    metadata: Mapping[str, Any],
    *,
    user_id: str,
    session_owner: str | None,
    call_timeout: float | None = None,
) -> DirectRoute | None:
    """The route for a run Open WebUI handed the Function with ``metadata`` (its ids), for
    ``user_id``, once the caller knows its manager is ``on_this_bus``. ``session_owner``: the
    user id Open WebUI's session pool holds for ``metadata["session_id"]``. None: the run
    stays on the relay (no message to address, a channel or internal run)."""
    chat_id, message_id = metadata.get("chat_id"), metadata.get("message_id")
    if not isinstance(chat_id, str) or not chat_id or not message_id or not user_id:
        return None
    if chat_id.startswith(CHANNEL_CHAT_PREFIX) or metadata.get("internal") is True:
        return None  # Open WebUI's emitter renders these differently (or drops notifications)
    session_id = metadata.get("session_id")
    owned = isinstance(session_id, str) and bool(session_id) and session_owner == user_id
    if call_timeout is not None:
        call_timeout = min(call_timeout, MAX_CALL_TIMEOUT) if call_timeout > 0 else None
    try:
        return DirectRoute(
            room=f"user:{user_id}",
            sid=session_id if owned else None,
            events=DIRECT_EVENT_TYPES,
            call_timeout=call_timeout,
        )
    except ValidationError:  # an id no routing key can hold: the relay serves it as before
        return None
