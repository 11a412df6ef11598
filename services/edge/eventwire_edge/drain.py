"""Draining an edge node (SIGTERM): its sockets move to other nodes and no event is lost.

With recovery on (``EVENTWIRE_RECOVERY_WINDOW``) it is short: after ``drain_delay`` every
mailbox is given back at once (its channels close, as when an edge dies), then every socket's
transport is dropped; each tab resumes its session on another node (``recovery.py``). Without
it:

1. Readiness turns 503 and new sockets are refused with HTTP 503 (``server.py``): clients
   retry and the load balancer, seeing the 503s, sends them elsewhere. New calls fail at once
   with ``client_disconnected`` (the session is about to become a new one).
2. After ``drain_delay`` (time for balancers to take the node out) and once the calls in
   flight are answered (half the grace at most; the rest then fail ``client_disconnected``),
   the node says it drains (presence), stops delivering to its sockets at one instant and
   keeps their users' events, and closes every socket's transport (below).
3. Each client reconnects through the balancer; the node it lands on asks this one for what
   it kept (``handoff.py``). When every socket sent away has been asked for, or the grace is
   nearly over, ``stop`` follows (goodbye, queue deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import socketio

if TYPE_CHECKING:
    from .node import EdgeNode

log = logging.getLogger(__name__)

STOP_RESERVE = 1.0  # seconds of the grace kept for stopping (goodbye, closing the bus)


async def drain_node(node: EdgeNode, grace: float) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    node.draining = True
    log.info("edge node %s draining (%d sockets)", node.node_id, node.connections)
    if not node.connections:
        return  # nothing to hand over; new sockets are refused until the node is gone
    await asyncio.sleep(min(node.settings.drain_delay, grace / 2))
    if node.mailboxed is not None:
        # Recovery on: every tab comes back elsewhere as the same session, from its mailbox,
        # with its unanswered calls asked again there; nothing to hand over or wait for.
        # Mailboxes first, all at once (their channels close): a tab resuming elsewhere finds
        # its mailbox free. One by one, 5,000 tabs took 15 s, the last resuming that late.
        await node.mailboxed.close()
        sids = node.session_ids()
        for sid in sids:
            await drop_transport(node.sio, sid)
        log.info("edge node %s sent %d sockets elsewhere (recoverable)", node.node_id, len(sids))
        return
    in_flight = node.calls_in_flight()  # new calls are refused: this set only shrinks
    if in_flight:
        await asyncio.wait(in_flight, timeout=max(0.0, started + grace / 2 - loop.time()))
    queue = node.inbox_name
    if queue is not None and node.bus.connected:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await node.presence.announcer.announce_draining(queue)
    # One instant for every socket: nothing is delivered here after it, everything is kept.
    users = node.users_of_sessions()
    node.parking.park(users)
    sids = node.session_ids()
    for sid in sids:
        await drop_transport(node.sio, sid)
    log.info(
        "edge node %s sent %d sockets of %d users elsewhere",
        node.node_id,
        len(sids),
        len(users),
    )
    try:
        async with asyncio.timeout_at(started + max(0.0, grace - STOP_RESERVE)):
            await node.parking.settled()
    except TimeoutError:
        log.warning(
            "edge node %s: sockets that did not reconnect within the grace lose what was "
            "kept for them",
            node.node_id,
        )


async def drop_transport(sio: socketio.AsyncServer, sid: str) -> None:
    """Close a socket's Engine.IO transport with neither a Socket.IO DISCONNECT nor an
    Engine.IO CLOSE packet: after either, socket.io-client and python-socketio give up
    ("io server disconnect"); a closed websocket they take for a network drop, and they
    reconnect, through the load balancer, to another node."""
    eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
    socket = sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
    if socket is None:
        return
    # A dropped transport, not a close: recovery keeps the session's mailbox for the window.
    await socket.close(wait=False, abort=True, reason=sio.reason.TRANSPORT_CLOSE)
    socket.queue.put_nowait(None)  # ends its writer, which closes the websocket
