"""What clients send: Open WebUI's socket event payloads, validated before anything is done.

Extra fields are allowed (Open WebUI's frontend sends more than the server reads, e.g.
``usage`` carries ``chat_id`` and ``action``). A malformed packet is an
``EventValidationError`` naming the field, answered with an ``error`` event.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from eventwire.errors import EventValidationError


class _Packet(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Auth(_Packet):
    token: str


class UserJoin(_Packet):
    """``user-join``: ``{"auth": {"token"}}``."""

    auth: Auth


class JoinChannels(_Packet):
    """``join-channels``: ``{"auth": {"token"}}``, optionally naming ``channel_ids``."""

    auth: Auth | None = None
    channel_ids: list[str] | None = None


class ChannelEventData(_Packet):
    type: str


class ChannelEvent(_Packet):
    """``events:channel`` / ``channel-events``: ``{"channel_id", "message_id"?, "data"}``."""

    channel_id: str
    message_id: str | None = None
    data: ChannelEventData


class Usage(_Packet):
    """``usage``: ``{"model"}``."""

    model: str


P = TypeVar("P", bound=_Packet)


def parse(model: type[P], data: Any) -> P:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        raise EventValidationError(f"{where}: {error['msg']}") from None
