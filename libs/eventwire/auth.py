"""Users' tokens: Open WebUI's JWT (HS256 with WEBUI_SECRET_KEY, claim ``id`` = user id)."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import AuthenticationError
from .settings import DEV_SECRET

ALGORITHM = "HS256"


class Identity(BaseModel):
    """Who a connection or request belongs to."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str | None = None
    email: str | None = None
    role: str = "user"
    # Set on chat-scoped tokens a worker mints for the external tools it calls.
    scope: str | None = None
    chat_id: str | None = None
    message_id: str | None = None
    # Every claim of the verified token (channel authorizers may read any of them).
    claims: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)


EVENT_SCOPE = "event"


def verify_token(token: object, secret: str, *, scopes: tuple[str, ...] = ()) -> Identity:
    """Decode and check a token; every failure is an ``AuthenticationError`` saying why.

    The identity it returns carries all the token's claims (``Identity.claims``). Scoped
    tokens are refused unless their scope is in ``scopes``.
    """
    if not isinstance(token, str) or not token:
        raise AuthenticationError("missing token: connect with auth={'token': <JWT>}")
    try:
        with _quiet_if_dev(secret):
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["id"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("token expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthenticationError("token signature is invalid") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthenticationError("token has no 'id' claim") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError(f"token is invalid: {exc}") from exc
    if not isinstance(claims.get("id"), str) or not claims["id"]:
        raise AuthenticationError("token claim 'id' must be a non-empty string")
    try:
        identity = Identity.model_validate({**claims, "claims": claims})
    except ValidationError as exc:
        raise AuthenticationError(f"token claims are malformed: {exc.errors()[0]['msg']}") from exc
    if identity.scope is not None and identity.scope not in scopes:
        raise AuthenticationError(f"a {identity.scope!r}-scoped token cannot be used here")
    return identity


def mint_token(
    user_id: str,
    secret: str,
    *,
    expires_in: float | None = 3600.0,
    **claims: Any,
) -> str:
    """Issue a token the edge accepts (tests, the demo, tools a worker calls)."""
    payload: dict[str, Any] = {"id": user_id, **claims}
    if expires_in is not None:
        payload["exp"] = int(time.time() + expires_in)
    with _quiet_if_dev(secret):
        return jwt.encode(payload, secret, algorithm=ALGORITHM)


@contextlib.contextmanager
def _quiet_if_dev(secret: str) -> Iterator[None]:
    """The dev default is short by Open WebUI's choice; the edge already warns about it once."""
    with warnings.catch_warnings():
        if secret == DEV_SECRET:
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        yield


def mint_event_token(
    user_id: str, chat_id: str, message_id: str, secret: str, *, expires_in: float
) -> str:
    """A short-lived token that may only push events into one message of one chat."""
    return mint_token(
        user_id,
        secret,
        expires_in=expires_in,
        scope=EVENT_SCOPE,
        chat_id=chat_id,
        message_id=message_id,
    )
