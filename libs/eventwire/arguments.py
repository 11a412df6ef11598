"""Checks of what SDK callers pass, so misuse raises ``InvalidArgument`` naming the argument.

Whatever a plugin hands ``emit`` / ``call`` (a number for an id, NaN or 10**400 for a timeout),
the SDK raises an ``EventwireError``, never a ``TypeError`` or a pydantic error from deep inside.
"""

from __future__ import annotations

import math

from .errors import InvalidArgument
from .topology import MAX_CALL_TIMEOUT, MAX_KEY_BYTES


def identifier(name: str, value: object, limit: int = MAX_KEY_BYTES) -> str:
    """A non-empty string of at most ``limit`` UTF-8 bytes (where it ends up in a routing key)."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{name} must be a non-empty string, got {_kind(value)}")
    return _fitting(name, value, limit)


def optional_identifier(name: str, value: object, limit: int = MAX_KEY_BYTES) -> str | None:
    """``None``, or a string (possibly empty) of at most ``limit`` UTF-8 bytes."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string or None, got {_kind(value)}")
    return _fitting(name, value, limit)


def call_timeout(value: object) -> float:
    """Seconds in (0, ``MAX_CALL_TIMEOUT``]: beyond it RabbitMQ refuses the expiration."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"timeout must be a number of seconds, got {_kind(value)}")
    bound = f"timeout must be more than 0 and at most {MAX_CALL_TIMEOUT:g} seconds"
    try:
        seconds = float(value)
    except OverflowError:  # only an int too large for a float
        raise InvalidArgument(f"{bound}, got an integer too large for a float") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_CALL_TIMEOUT:
        raise InvalidArgument(f"{bound}, got {seconds!r}")
    return seconds


def _fitting(name: str, value: str, limit: int) -> str:
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} is not valid text (it holds lone surrogates)") from None
    if size > limit:
        raise InvalidArgument(f"{name} is {size} bytes, over the {limit}-byte limit")
    return value


def _kind(value: object) -> str:
    # The type only: repr() of a hostile value can be huge, slow or raise.
    return "an empty string" if isinstance(value, str) else f"a {type(value).__name__}"
