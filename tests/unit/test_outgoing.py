"""A connection's outgoing queue counts the bytes it holds, and overflows once, at its bound."""

from __future__ import annotations

from types import SimpleNamespace

from engineio import packet as eio_packet

from eventwire_edge.outgoing import OutgoingStats, SendQueue


def message(size: int) -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, data="x" * (size - 1))  # + the type's "4"


def test_polling_frees_bytes_as_they_are_taken_and_pings_are_not_counted() -> None:
    stats = OutgoingStats()
    overflowed: list[SendQueue] = []
    queue = SendQueue(100, stats, overflowed.append)
    queue.put_nowait(eio_packet.Packet(eio_packet.PING))
    queue.put_nowait(message(40))
    queue.put_nowait(message(60))
    assert queue.bytes == stats.client_queued_bytes == 100
    queue.get_nowait()
    queue.get_nowait()
    assert queue.bytes == 60
    queue.get_nowait()
    assert queue.bytes == 0 and stats.client_queue_peak_bytes == 100 and not overflowed


def test_a_websocket_writer_holds_bytes_until_written() -> None:
    queue = SendQueue(100, OutgoingStats(), lambda q: None)
    queue.socket = SimpleNamespace(upgraded=True, sid="s")
    queue.put_nowait(message(50))
    queue.get_nowait()  # taken by the writer, still unwritten
    assert queue.bytes == 50
    queue.written(50)
    assert queue.bytes == 0


def test_over_the_bound_the_queue_overflows_once_and_keeps_nothing_more() -> None:
    stats = OutgoingStats()
    overflowed: list[SendQueue] = []
    queue = SendQueue(100, stats, overflowed.append)
    queue.put_nowait(message(80))
    queue.put_nowait(message(30))  # 110: over
    queue.put_nowait(message(10))  # would fit, but the connection is being dropped
    assert overflowed == [queue]
    assert queue.qsize() == 1 and queue.bytes == 80
    queue.discard()
    assert queue.bytes == stats.client_queued_bytes == 0 and queue.empty()
    assert stats.client_queue_peak_bytes == 80
