"""Calls a server delivers to its own sockets for callers elsewhere, until each is settled.

A call is settled by the first acknowledgement, by the caller's ``CallCancel``, by its
timeout, or by its last target leaving (answered with ``client_disconnected`` at once, so
the caller does not wait out its timeout for a socket that is gone).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from eventwire.errors import ClientDisconnected
from eventwire.protocol import CallReply, SioCall

log = logging.getLogger(__name__)

Send = Callable[[str, CallReply], Awaitable[None]]
"""Puts a reply in the caller's reply queue."""


@dataclass
class _Served:
    call: SioCall
    sids: set[str]
    timer: asyncio.TimerHandle | None = None


class Serving:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._calls: dict[str, _Served] = {}
        self._by_sid: defaultdict[str, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._calls)

    def open(self, call: SioCall, sids: list[str]) -> None:
        served = _Served(call, set(sids))
        if call.timeout is not None:
            # The caller has given up by then; drop the wait (no answer is expected).
            served.timer = asyncio.get_running_loop().call_later(call.timeout, self._close, call.id)
        self._calls[call.id] = served
        for sid in sids:
            self._by_sid[sid].add(call.id)

    def answer(self, call_id: str) -> Callable[..., Awaitable[None]]:
        """The python-socketio callback that carries a client's acknowledgement back."""

        async def acked(*args: Any) -> None:
            served = self._close(call_id)
            if served is not None:
                reply = CallReply(id=call_id, ok=True, value=list(args))
                await self._send(served.call.reply_to, reply)

        return acked

    def cancel(self, call_id: str) -> None:
        self._close(call_id)

    async def left(self, sid: str) -> None:
        """``sid`` disconnected: fail the calls that now have no target left."""
        for call_id in self._by_sid.pop(sid, set()):
            served = self._calls.get(call_id)
            if served is None:
                continue
            served.sids.discard(sid)
            if not served.sids:
                self._close(call_id)
                await self._send(served.call.reply_to, failed(served.call, "left before answering"))

    def close(self) -> None:
        for call_id in list(self._calls):
            self._close(call_id)

    def _close(self, call_id: str) -> _Served | None:
        served = self._calls.pop(call_id, None)
        if served is None:
            return None
        if served.timer is not None:
            served.timer.cancel()
        for sid in served.sids:
            waiting = self._by_sid.get(sid)
            if waiting is not None:
                waiting.discard(call_id)
                if not waiting:
                    del self._by_sid[sid]
        return served


def failed(call: SioCall, why: str) -> CallReply:
    return CallReply(
        id=call.id,
        ok=False,
        error=ClientDisconnected.code,
        message=f"{call.room} {why} (event {call.event!r}, namespace {call.namespace})",
    )
