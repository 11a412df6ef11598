"""Incoming bus messages, decoded in one place and routed by type to typed callbacks.

Both backends hand every body they receive to ``deliver``; consumers (the edge node, presence,
the caller, the worker's control queue) register one callback per message type on a
``Dispatcher`` instead of matching on the message in each of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import codec
from .bus import Handler
from .errors import ProtocolError
from .protocol import Message

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


async def deliver(body: bytes, key: str, handler: Handler, inbox: str) -> None:
    """Decode ``body`` and hand it to ``handler``; a bad body or a failing handler costs this
    message only (logged with the inbox's name), never the inbox's consumer."""
    try:
        message = codec.decode(body)
    except ProtocolError as exc:
        log.warning("inbox %s dropped a message: %s", inbox, exc)
        return
    try:
        await handler(key, message)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("inbox %s handler failed on %s message", inbox, message.kind)


class Dispatcher:
    """A ``Handler`` that calls the callback registered for the message's type."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._routes: dict[type[Any], Callable[[str, Any], Awaitable[None]]] = {}
        self.unexpected = 0  # messages of a type nobody here handles (counted, logged)

    def on(self, kind: type[M], callback: Callable[[str, M], Awaitable[None]]) -> None:
        self._routes[kind] = callback

    async def __call__(self, key: str, message: Message) -> None:
        callback = self._routes.get(type(message))
        if callback is None:
            self.unexpected += 1
            log.warning("%s got a %s message on %s; dropped", self._name, message.kind, key)
            return
        await callback(key, message)
