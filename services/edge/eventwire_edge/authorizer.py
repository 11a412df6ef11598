"""Who may join which channel: a seam the deployer replaces (``EVENTWIRE_CHANNEL_AUTHORIZER``).

Open WebUI asks its database (``Channels.get_channels_by_user_id``); an edge node has no
database, so the default trusts the signed token: its ``channels`` claim lists the user's
channels, and admins may join any channel. A deployment with its own membership store points
``EVENTWIRE_CHANNEL_AUTHORIZER`` at ``module:factory``, a zero-argument callable returning an
object with these two methods.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from eventwire.auth import Identity
from eventwire.errors import ConfigurationError

CHANNELS_CLAIM = "channels"


class ChannelAuthorizer(Protocol):
    async def channels(self, who: Identity, claims: Mapping[str, Any]) -> Collection[str]:
        """The channels ``join-channels`` (and ``user-join``) enter when none are named."""

    async def may_join(self, who: Identity, claims: Mapping[str, Any], channel_id: str) -> bool:
        """Whether ``who`` may enter ``channel_id`` (and then send to it)."""


class ClaimsAuthorizer:
    """The token's ``channels`` claim (a list of ids); role ``admin`` may join any channel."""

    async def channels(self, who: Identity, claims: Mapping[str, Any]) -> Collection[str]:
        return _claimed(claims)

    async def may_join(self, who: Identity, claims: Mapping[str, Any], channel_id: str) -> bool:
        return who.role == "admin" or channel_id in _claimed(claims)


def _claimed(claims: Mapping[str, Any]) -> frozenset[str]:
    value = claims.get(CHANNELS_CLAIM)
    if not isinstance(value, list | tuple):
        return frozenset()
    return frozenset(c for c in value if isinstance(c, str) and c)


def load_authorizer(path: str) -> ChannelAuthorizer:
    """``""``: the claims authorizer; ``"pkg.module:factory"``: what ``factory()`` returns."""
    if not path:
        return ClaimsAuthorizer()
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"channel authorizer {path!r} is not 'module:attribute'")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load channel authorizer {path!r}: {exc}") from exc
    authorizer = factory()
    if not callable(getattr(authorizer, "channels", None)) or not callable(
        getattr(authorizer, "may_join", None)
    ):
        raise ConfigurationError(f"{path!r} did not return a channel authorizer")
    result: ChannelAuthorizer = authorizer
    return result
