"""A FIFO of emits waiting for the broker to come back, bounded in count and in bytes."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ..errors import OutboxFull


class Pending(NamedTuple):
    key: str
    body: bytes

    @property
    def size(self) -> int:
        """What it holds: the encoded body and the routing key (the rest is constant)."""
        return len(self.body) + len(self.key)


class Outbox:
    def __init__(self, limit: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.dropped = 0  # refused because full: reported to the emitter, counted here
        self.bytes = 0  # sum of the held items' sizes
        self._items: deque[Pending] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Pending) -> None:
        if len(self._items) >= self.limit:
            self._refuse(
                f"{len(self._items)} emits already wait in the outbox "
                f"(EVENTWIRE_OUTBOX_LIMIT={self.limit})"
            )
        if self.bytes + item.size > self.max_bytes:
            self._refuse(
                f"the outbox holds {self.bytes} bytes and this emit needs {item.size} more "
                f"(EVENTWIRE_OUTBOX_MAX_BYTES={self.max_bytes} bytes)"
            )
        self._items.append(item)
        self.bytes += item.size

    def _refuse(self, why: str) -> None:
        self.dropped += 1
        raise OutboxFull(f"broker unreachable and {why}")

    def peek(self) -> Pending:
        return self._items[0]

    def pop(self) -> None:
        self.bytes -= self._items.popleft().size
