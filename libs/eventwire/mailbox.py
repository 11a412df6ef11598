"""The mailbox seam: one broker queue per session, kept while its tab is away.

With recovery on (``EVENTWIRE_RECOVERY_WINDOW``), everything routed to a session's keys
(``user.<uid>``, ``session.<sid>``) goes into that session's mailbox, which its edge consumes.
A letter leaves the mailbox only when the edge acknowledges it: for an event, once the client
has confirmed reading it (its Engine.IO pong to a ping sent after it); for a call, once its
answer is sent. So when a tab's transport drops, or its edge dies, what it has not confirmed is
still in the broker, in order, and any edge can take the mailbox over when the tab comes back.

Guarantees a backend keeps (the edge's recovery builds on them; ``tests/integration`` checks):
- letters come out in the order the mailbox received them, one at a time, and a released
  mailbox gives back every letter not acknowledged, in that same order, marked redelivered;
- a mailbox nobody consumes for the recovery window is deleted with its bindings (then a
  mandatory publish to its session key is unroutable: calls to it fail at once);
- past its bounds (events, bytes) a mailbox drops its oldest letters; ``Backlog.maybe_dropped``
  says when that may have happened since the tab left.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .protocol import Message


@dataclass(slots=True)
class Letter:
    """One message out of a mailbox."""

    key: str  # the routing key it was published with
    message: Message | None  # None: not a message this version decodes (acknowledge it)
    id: str  # the broker message id the publisher stamped: the client's offset
    redelivered: bool  # given out before, not acknowledged
    size: int  # body bytes (what the mailbox's byte bound counts)
    tag: int  # the backend's handle for ``ack``


LetterHandler = Callable[[Letter], Awaitable[None]]
# Called as a letter arrives when no letter is waiting or being handled before it: True when
# it handled the letter there and then (events: nothing to await), False to queue it for the
# LetterHandler. The order letters are handled in stays the mailbox's.
LetterNow = Callable[[Letter], bool]


class Mailbox(Protocol):
    @property
    def session_id(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def start(self, handler: LetterHandler, now: LetterNow | None = None) -> None:
        """Hand letters to ``handler`` from now on (after what ``resume`` returned); with
        ``now``, offer each to it first, synchronously, when nothing waits before it."""

    def ack(self, letter: Letter) -> None:
        """Done with ``letter``: it leaves the broker."""

    async def release(self) -> None:
        """The tab dropped: stop, and give back every letter not acknowledged, in order."""

    async def discard(self) -> None:
        """The tab closed for good: delete the mailbox, its letters and bindings."""


@dataclass
class Backlog:
    """What a mailbox held when it was resumed, in order."""

    letters: list[Letter] = field(default_factory=list)
    bytes: int = 0
    maybe_dropped: bool = False  # it reached a bound while the tab was away


class Mailboxes(Protocol):
    async def open(self, session_id: str, keys: Sequence[str]) -> Mailbox:
        """A new session's mailbox, bound to ``keys``; letters wait until ``start``."""

    async def resume(
        self, session_id: str, keys: Sequence[str], wait: float
    ) -> tuple[Mailbox, Backlog] | None:
        """Take over the mailbox of a session whose tab came back, with its backlog (bound
        to ``keys`` again, in case it was recreated meanwhile).

        None when it is gone (the window passed, the tab closed) or still consumed by another
        edge after ``wait`` seconds (the old transport not yet noticed dead there)."""

    def delivered(self) -> int:
        """Letters handed out so far (a counter for metrics)."""

    def __len__(self) -> int:
        """Mailboxes this process consumes now."""

    async def close(self) -> None:
        """Give every mailbox back (this process is stopping; its tabs may come back)."""
