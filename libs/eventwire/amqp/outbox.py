"""A bounded FIFO of emits waiting for the broker to come back."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ..errors import OutboxFull


class Pending(NamedTuple):
    key: str
    body: bytes


class Outbox:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0  # refused because full: reported to the emitter, counted here
        self._items: deque[Pending] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Pending) -> None:
        if len(self._items) >= self.limit:
            self.dropped += 1
            raise OutboxFull(
                f"broker unreachable and {self.limit} emits already wait in the outbox"
            )
        self._items.append(item)

    def peek(self) -> Pending:
        return self._items[0]

    def pop(self) -> None:
        self._items.popleft()
