"""python-socketio's client with Socket.IO connection state recovery, as socket.io-client has it.

socket.io-client (>= 4.6) needs nothing: it keeps the ``pid`` of the CONNECT answer and the
``offset`` that ends each event, and sends both when it reconnects. python-socketio's client
does neither, and hands the offset to handlers as an extra argument. ``RecoveringClient``
keeps them (``pid``, ``offset``), strips the offset before handlers see the event, sends both
in its CONNECT when it reconnects, and tells whether that worked (``recovered``, like
socket.io-client's ``socket.recovered``)::

    client = RecoveringClient(reconnection=True)
    client.on("events", on_events)          # on_events(data), as without recovery
    await client.connect(url, auth={"token": token}, socketio_path="/ws/socket.io")
"""

from __future__ import annotations

from typing import Any

import socketio


class RecoveringClient(socketio.AsyncClient):  # type: ignore[misc]  # untyped library
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pid: str | None = None
        self.offset: str | None = None
        self.recovered = False  # the last connect resumed the previous session

    async def connect(self, url: str, *args: Any, auth: Any = None, **kwargs: Any) -> None:
        if getattr(auth, "adds_recovery", False):  # a reconnect passes our own back
            await super().connect(url, *args, auth=auth, **kwargs)
            return
        base = auth

        async def with_recovery() -> Any:
            value = await self._get_real_value(base)
            if self.pid is None:
                return value
            extra: dict[str, Any] = {"pid": self.pid}
            if self.offset is not None:
                extra["offset"] = self.offset
            return {**(value or {}), **extra}

        with_recovery.adds_recovery = True  # type: ignore[attr-defined]
        await super().connect(url, *args, auth=with_recovery, **kwargs)

    async def _handle_connect(self, namespace: str | None, data: Any) -> None:
        pid = data.get("pid") if isinstance(data, dict) else None
        self.recovered = pid is not None and pid == self.pid
        if not self.recovered:
            self.offset = None
        self.pid = pid if isinstance(pid, str) else None
        await super()._handle_connect(namespace, data)

    async def _handle_event(self, namespace: str | None, id: Any, data: list[Any]) -> None:
        # An edge's event is [event, payload, offset]; a call (id set) carries no offset.
        if self.pid is not None and id is None and len(data) == 3 and isinstance(data[2], str):
            self.offset = data[2]
            data = data[:2]
        await super()._handle_event(namespace, id, data)
