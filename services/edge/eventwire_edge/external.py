"""What an external tool may push with a chat-scoped token: some types, at a rate, of a size.

The worker hands each run's scoped token to the tools its plugin calls, often third-party
servers. Least privilege: such a token may push only the event types the deployer allows
(``EVENTWIRE_EXTERNAL_EVENT_TYPES``; by default display events, never ``execute``, which runs
JavaScript in the user's page), under a rate per token and the socket packet size limit. The
user's own token is not gated here: it keeps Open WebUI's behaviour (any type).
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from eventwire import errors
from eventwire.auth import Identity
from eventwire.codec import packed_size
from eventwire.events import KNOWN_TYPES

from .ratelimit import KeyedBuckets
from .settings import EdgeSettings

log = logging.getLogger(__name__)

SETTING = "EVENTWIRE_EXTERNAL_EVENT_TYPES"
# Buckets of scoped tokens kept at once by one edge node. Idle ones go after burst/rate
# seconds, so this bounds only a flood: past it the least recently used bucket is dropped.
MAX_SCOPED_BUCKETS = 10_000
# Types that do more than display something, and why a deployer allowing them is warned.
POWERFUL_TYPES = {
    "execute": "runs JavaScript in the user's page, with the page's token and powers",
    "confirmation": "opens a dialog in the user's page (its answer is discarded)",
    "input": "opens a dialog asking the user for text (its answer is discarded)",
}
_TYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.-]{0,63}$")


def parse_event_types(value: str) -> frozenset[str]:
    """The allow-list from its comma-separated form; a malformed name is a configuration error.

    Names are taken as given (the deployer's choice wins): the edge warns about types that
    are unknown or more than display, but allows them.
    """
    names = [name.strip() for name in value.split(",")]
    allowed = frozenset(name for name in names if name)
    malformed = sorted(name for name in allowed if not _TYPE_NAME.match(name))
    if malformed:
        raise errors.ConfigurationError(
            f"{SETTING}: {', '.join(map(repr, malformed))} is not an event type name "
            "(letters, digits and ':_.-', e.g. 'status,chat:message:delta')"
        )
    return allowed


def warn_about(allowed: frozenset[str]) -> None:
    """Say at start-up what a deployer's allow-list grants beyond display events."""
    for name in sorted(allowed & POWERFUL_TYPES.keys()):
        log.warning(
            "%s allows %r for chat-scoped tokens: any external tool a run calls %s",
            SETTING,
            name,
            POWERFUL_TYPES[name],
        )
    unknown = sorted(allowed - KNOWN_TYPES)
    if unknown:
        log.warning(
            "%s allows event type(s) eventwire does not know, unvalidated: %s",
            SETTING,
            ", ".join(unknown),
        )
    if not allowed:
        log.warning("%s is empty: external tools may push no events", SETTING)


@dataclass
class ScopedEventStats:
    scoped_events_pushed: int = 0
    scoped_events_forbidden: int = 0  # refused (403): a type the allow-list lacks
    scoped_events_limited: int = 0  # refused (429): over the token's rate
    scoped_events_too_large: int = 0  # refused (413): over the packet limit


class ScopedEvents:
    """The gate an event pushed with a chat-scoped token passes; refusals are counted."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.allowed = parse_event_types(settings.external_event_types)
        warn_about(self.allowed)
        self._rate = settings.client_event_rate
        self._burst = settings.client_event_burst
        self._max_bytes = settings.max_client_packet_bytes
        # Keyed by the token's target, which is all it carries besides its expiry: tokens a
        # worker mints for one message (e.g. on a redelivery) share that message's budget.
        self._buckets: KeyedBuckets[tuple[str, str, str]] = KeyedBuckets(
            self._rate, self._burst, MAX_SCOPED_BUCKETS
        )
        self.stats = ScopedEventStats()

    def describe(self) -> dict[str, Any]:
        return {
            **asdict(self.stats),
            "scoped_event_buckets": len(self._buckets),
            "scoped_event_buckets_evicted": self._buckets.evicted,
        }

    def admit_rate(self, identity: Identity, chat_id: str, message_id: str, now: float) -> None:
        """Spend one of the token's events, before its body is read; raise when it has none."""
        if self._buckets.take((identity.id, chat_id, message_id), now):
            return
        self.stats.scoped_events_limited += 1
        raise errors.RateLimited(
            f"over {self._rate:g} events/s (burst {self._burst}) for this chat-scoped token"
        )

    def admit_event(self, identity: Identity, event: dict[str, Any]) -> None:
        """Refuse a type the allow-list lacks, or an event over the packet limit."""
        kind = event.get("type")
        if kind not in self.allowed:
            self.stats.scoped_events_forbidden += 1
            log.warning(
                "refused a %r event pushed with a chat-scoped token (user %s, chat %s, message %s)",
                kind,
                identity.id,
                identity.chat_id,
                identity.message_id,
            )
            raise errors.PermissionDenied(
                f"event type {kind!r} may not be pushed with a chat-scoped token; allowed: "
                f"{', '.join(sorted(self.allowed)) or 'none'} ({SETTING})"
            )
        try:
            size = packed_size(event)
        except errors.ProtocolError:
            size = self._max_bytes + 1
        if size > self._max_bytes:
            self.stats.scoped_events_too_large += 1
            raise errors.PayloadTooLarge(
                f"event is {size} bytes, over the {self._max_bytes}-byte limit for chat-scoped "
                "tokens (EVENTWIRE_MAX_CLIENT_PACKET_BYTES)"
            )

    def pushed(self) -> None:
        self.stats.scoped_events_pushed += 1
