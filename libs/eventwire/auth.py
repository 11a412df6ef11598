"""Users' tokens: Open WebUI's JWT (HS256 with WEBUI_SECRET_KEY, claim ``id`` = user id)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import re
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import InvalidKeyError
from jwt.utils import base64url_decode, base64url_encode
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
    claims = _plain_claims(token, secret)
    try:
        if claims is None:
            with _quiet_if_dev(secret):
                claims = jwt.decode(
                    token, secret, algorithms=[ALGORITHM], options={"require": ["id"]}
                )
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


# The header PyJWT (and so Open WebUI) writes for HS256: the only one ``_plain_claims`` reads.
_PLAIN_HEADER = base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
# Three segments of base64url's alphabet, unpadded (PyJWT takes some padding too: it decides).
_PLAIN_SEGMENTS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Claims PyJWT checks that ``_plain_claims`` leaves to it (audience, issuer, subject).
_CHECKED_ELSEWHERE = frozenset(("aud", "iss", "sub"))


@functools.lru_cache(maxsize=8)
def _plain_key(secret: str) -> bytes | None:
    """``secret`` as PyJWT's HS256 prepares it; None when PyJWT refuses it or warns about it
    (asymmetric-looking, too short): those tokens always go through PyJWT, which says so."""
    algorithm = HMACAlgorithm(HMACAlgorithm.SHA256)
    try:
        key = algorithm.prepare_key(secret)
    except InvalidKeyError:
        return None
    return None if algorithm.check_key_length(key) else key


def _canonical(segment: str) -> bytes:
    """A segment's bytes, if it is their one base64url spelling (PyJWT refuses the others)."""
    raw = segment.encode()
    decoded = base64url_decode(raw)
    if base64url_encode(decoded) != raw:
        raise ValueError("not canonical base64url")
    return decoded


def _plain_claims(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of a token of the plain shape Open WebUI mints, verified; None for any other
    token, valid or not, which PyJWT then decodes and judges (with its own error messages).

    For that one shape it checks what PyJWT's ``decode`` (HS256 only, ``id`` required) does:
    PyJWT's HS256 header, canonical unpadded base64url segments, the signature, a JSON object
    payload with an ``id``, integer ``exp`` / ``iat`` / ``nbf`` within their limits, a string
    ``jti``; no ``aud``, ``iss`` or ``sub`` (PyJWT's). 15 µs a token instead of PyJWT's 53,
    paid by every connect and each tab of a reconnect storm. It accepts only tokens PyJWT
    accepts, with the same claims (``tests/unit/test_auth.py`` judges a corpus and mutated
    tokens both ways)."""
    key = _plain_key(secret)
    if key is None or _PLAIN_SEGMENTS.fullmatch(token) is None:
        return None
    parts = token.split(".")
    if parts[0] != _PLAIN_HEADER:
        return None
    signed = token[: len(parts[0]) + 1 + len(parts[1])].encode()
    try:
        signature = _canonical(parts[2])
        if not hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), signature):
            return None
        claims = json.loads(_canonical(parts[1]))  # signed: parsed only then
    except (ValueError, TypeError, RecursionError):
        return None
    if (
        not isinstance(claims, dict)
        or claims.get("id") is None
        or _CHECKED_ELSEWHERE & claims.keys()
    ):
        return None
    now = time.time()
    # Integers only (PyJWT also takes what int() takes, and words its refusals): expiry
    # after now, issued-at and not-before at or before it.
    if not all(type(claims.get(name, 0)) is int for name in ("exp", "iat", "nbf")):
        return None
    if claims.get("exp", now + 1) <= now or max(claims.get("iat", 0), claims.get("nbf", 0)) > now:
        return None
    if "jti" in claims and not isinstance(claims["jti"], str):
        return None
    return claims


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
