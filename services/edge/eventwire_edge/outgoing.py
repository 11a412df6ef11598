"""What the edge holds for each connection until the client reads it: bounded, in bytes.

python-engineio keeps one unbounded queue per connection; a client that answers pings but
reads nothing makes it hold everything sent to it. Here each queue counts the bytes of the
Socket.IO packets in it, plus those its websocket writer has taken but not yet written (the
writer takes the whole queue at once, then waits on the socket). Over
``EVENTWIRE_MAX_CLIENT_QUEUE_BYTES`` the connection is dropped as a slow consumer: its
backlog freed, its socket aborted (it reads nothing, so no goodbye could reach it), the reason
logged and counted. The edge writes JSON as ASCII, so characters counted are bytes.

The hooks are python-engineio's own seams: ``create_queue`` (one queue per socket) and the
websocket class of its aiohttp driver (``_async["websocket"]``), whose ``send`` is where a
packet leaves. Frames that are not Engine.IO packets at all end their connection cleanly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import engineio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as aiohttp_driver

log = logging.getLogger(__name__)

SLOW_CONSUMER = "slow consumer"  # the disconnect reason handlers see
_EIO_TYPES = frozenset("0123456")  # first character of every Engine.IO text frame
_MESSAGE = str(eio_packet.MESSAGE)


@dataclass
class OutgoingStats:
    client_queued_bytes: int = 0  # now, over every connection
    client_queue_peak_bytes: int = 0  # the most one connection ever held
    slow_consumers_disconnected: int = 0
    transport_frames_malformed: int = 0  # not Engine.IO: their connection was closed


def _counted_size(pkt: Any) -> int:
    """Bytes of a Socket.IO packet as it will be written; 0 for Engine.IO's own packets."""
    if getattr(pkt, "packet_type", None) != eio_packet.MESSAGE:
        return 0
    return len(pkt.encode())  # cached by the packet: the writer reuses it


def _frame_size(frame: str | bytes) -> int:
    if isinstance(frame, bytes):
        return len(frame)
    return len(frame) if frame[:1] == _MESSAGE else 0


class SendQueue(asyncio.Queue[Any]):
    """One connection's outgoing packets; drops the connection when its bytes pass the bound."""

    def __init__(
        self, bound: int, stats: OutgoingStats, overflow: Callable[[SendQueue], None]
    ) -> None:
        super().__init__()
        self.bound = bound
        self.bytes = 0  # queued + taken by the websocket writer, not yet written
        self.overflowed = False
        self.socket: Any = None  # the engineio socket, once connected
        self.transport: asyncio.Transport | None = None  # its websocket's, once upgraded
        # Recovery (recovery.py): told of every ping queued and every pong read, in order.
        self.on_ping: Callable[[], None] | None = None
        self.on_pong: Callable[[], None] | None = None
        self.closed_by_client = False  # its websocket got a close frame (a tab closing)
        self._stats = stats
        self._overflow = overflow

    def put_nowait(self, item: Any) -> None:
        if self.on_ping is not None and getattr(item, "packet_type", None) == eio_packet.PING:
            self.on_ping()
        size = _counted_size(item)
        if size:
            if self.overflowed:
                return  # being dropped: nothing more is kept for it
            if self.bytes + size > self.bound:
                self.overflowed = True
                self._overflow(self)
                return
            self._add(size)
            self._stats.client_queue_peak_bytes = max(
                self._stats.client_queue_peak_bytes, self.bytes
            )
        super().put_nowait(item)

    def _get(self) -> Any:
        item = super()._get()
        # Polling hands packets to the HTTP response at once; a websocket writer holds them
        # until ``written``.
        if not (self.socket is not None and self.socket.upgraded):
            self._add(-_counted_size(item))
        return item

    def written(self, size: int) -> None:
        self._add(-size)

    def discard(self) -> None:
        """Drop the backlog (the connection is going): its bytes are freed now."""
        while not self.empty():
            self.get_nowait()
            self.task_done()
        self._add(-self.bytes)

    def _add(self, size: int) -> None:
        size = max(size, -self.bytes)
        self.bytes += size
        self._stats.client_queued_bytes += size


class CountedWebSocket(aiohttp_driver.WebSocket):  # type: ignore[misc]  # untyped library
    """engineio's aiohttp websocket, telling its queue what was written, refusing garbage."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        queue = getattr(self.handler.__self__, "queue", None)
        self._queue = queue if isinstance(queue, SendQueue) else None
        if self._queue is not None:
            self._queue.transport = environ["aiohttp.request"].transport
        return await super().__call__(environ)

    async def send(self, message: str | bytes) -> None:
        await super().send(message)
        if self._queue is not None:
            self._queue.written(_frame_size(message))

    async def wait(self) -> Any:
        msg = await self._sock.receive()
        if msg.type == aiohttp.WSMsgType.CLOSE and self._queue is not None:
            self._queue.closed_by_client = True  # a clean close, not a dropped transport
        data = msg.data
        if not isinstance(data, (bytes, str)):
            raise OSError()  # closed (engineio's driver does the same)
        if isinstance(data, str) and data[:1] not in _EIO_TYPES:
            # engineio would raise decoding it, outside any handler: end the connection here.
            self.server.outgoing.transport_frames_malformed += 1
            raise OSError(f"not an Engine.IO packet: {data[:40]!r}")
        return data


class EdgeEngineServer(engineio.AsyncServer):  # type: ignore[misc]  # untyped library
    """engineio's server with bounded, counted per-connection queues."""

    def __init__(self, *args: Any, max_queue_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The aiohttp driver's table is shared by every server: replace it, never change it.
        drivers: dict[str, Any] = vars(self)["_async"]
        self._async = {**drivers, "websocket": CountedWebSocket}
        self._max_queue_bytes = max_queue_bytes
        self.outgoing = OutgoingStats()
        self.next_sid: str | None = None  # set just before python-socketio asks for a sid
        self._dropping: set[asyncio.Task[None]] = set()

    def create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        return SendQueue(self._max_queue_bytes, self.outgoing, self._overflowed)

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":  # the socket exists now
            socket = self.sockets.get(args[0])
            if socket is not None and isinstance(socket.queue, SendQueue):
                socket.queue.socket = socket  # tell its queue whose it is
                socket.handle_post_request = self._guarded_posts(socket)
                socket.receive = self._pongs_told(socket)
                socket.poll = self._quick_poll(socket)
        return await super()._trigger_event(event, *args, **kwargs)

    def generate_id(self) -> str:
        # A recovered session keeps its sid: python-socketio's manager asks here for one.
        claimed, self.next_sid = self.next_sid, None
        return claimed if claimed is not None else str(super().generate_id())

    @staticmethod
    def _pongs_told(socket: Any) -> Callable[[Any], Any]:
        receive = socket.receive
        queue: SendQueue = socket.queue

        async def told(pkt: Any) -> None:
            if pkt.packet_type == eio_packet.PONG and queue.on_pong is not None:
                queue.on_pong()
            await receive(pkt)

        return told

    @staticmethod
    def _quick_poll(socket: Any) -> Callable[[], Any]:
        """engineio's ``poll`` (what a connection's writer waits on), without its cost per
        packet: it wraps every wait in ``asyncio.wait_for``, a task and a timer each time,
        even when packets are already queued. Here a queued packet is taken at once, and only
        an empty queue is waited on: by a websocket's writer without a timer (its reader keeps
        that deadline), by a long-polling GET under ``asyncio.timeout`` (a timer, no task).
        The same results: every queued packet up to a ``None`` (the end), ``[]`` for the
        end, ``QueueEmpty`` when a poll got nothing for a ping interval and timeout."""
        queue: SendQueue = socket.queue
        server = socket.server

        async def poll() -> list[Any]:
            if queue.empty():
                try:
                    if socket.upgraded:
                        # A websocket's writer: its reader ends the connection when nothing
                        # came for that long, and puts the end (None) here (engineio's
                        # _websocket_handler; the edge's drop and disconnect do too).
                        first = await queue.get()
                    else:  # a long-polling GET answers within that time, packets or not
                        async with asyncio.timeout(server.ping_interval + server.ping_timeout):
                            first = await queue.get()
                except (TimeoutError, asyncio.CancelledError):
                    raise eio_exceptions.QueueEmpty() from None
            else:
                first = queue.get_nowait()
            queue.task_done()
            if first is None:
                return []
            packets = [first]
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    queue.put_nowait(None)  # the end, for the next poll
                    break
                packets.append(pkt)
            return packets

        return poll

    def _guarded_posts(self, socket: Any) -> Callable[[dict[str, Any]], Any]:
        """Polling: a body that is not Engine.IO packets ends the connection (400), instead of
        the traceback engineio logs for it before answering 200."""
        handle = socket.handle_post_request

        async def guarded(environ: dict[str, Any]) -> None:
            try:
                await handle(environ)
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                self.outgoing.transport_frames_malformed += 1
                log.info("polling connection %s sent a malformed payload: %s", socket.sid, exc)
                raise eio_exceptions.EngineIOError("malformed payload") from None

        return guarded

    async def disconnect(self, sid: str | None = None) -> None:
        """As engineio's, but never waits on a client that is not reading (its backlog and
        goodbye are dropped with its socket); a client that keeps up gets its goodbye."""
        if sid is None:
            for each in list(self.sockets):
                await self.disconnect(each)
            return
        socket = self.sockets.pop(sid, None)
        if socket is None:
            return
        queue = socket.queue
        behind = isinstance(queue, SendQueue) and queue.bytes > 0
        await socket.close(wait=False, abort=behind, reason=self.reason.SERVER_DISCONNECT)
        if behind:
            self._abort(socket)
        else:
            # After the goodbye its writer closes the websocket: the connection ends without
            # waiting for a client that may never answer (engineio would wait for a timeout).
            socket.queue.put_nowait(None)

    def _overflowed(self, queue: SendQueue) -> None:
        # Called from inside a send: drop the connection outside it, in order, once.
        task = asyncio.get_running_loop().create_task(self._drop_slow(queue))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def drop(self, sid: str, reason: str) -> None:
        """End a connection now: no goodbye, its backlog freed, its socket aborted."""
        socket = self.sockets.pop(sid, None)
        if socket is None:
            return
        if isinstance(socket.queue, SendQueue):
            socket.queue.discard()
        await socket.close(wait=False, abort=True, reason=reason)
        self._abort(socket)

    async def _drop_slow(self, queue: SendQueue) -> None:
        socket = queue.socket
        self.outgoing.slow_consumers_disconnected += 1
        log.warning(
            "connection %s dropped as a slow consumer: over %d bytes waiting to be read "
            "(EVENTWIRE_MAX_CLIENT_QUEUE_BYTES)",
            getattr(socket, "sid", "?"),
            queue.bound,
        )
        queue.discard()
        if socket is not None:
            await self.drop(socket.sid, SLOW_CONSUMER)

    @staticmethod
    def _abort(socket: Any) -> None:
        queue = socket.queue
        if isinstance(queue, SendQueue):
            queue.discard()
            queue.put_nowait(None)  # ends a pending poll
            if queue.transport is not None:
                queue.transport.abort()  # ends its websocket's reader and stuck writer
