from __future__ import annotations

import base64
import hashlib
import hmac
import random
import string
import time
import warnings
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from eventwire import auth
from eventwire.auth import Identity, mint_token, verify_token
from eventwire.errors import AuthenticationError

SECRET = "unit-test-secret-" + "0123456789" * 6


def test_round_trip_keeps_optional_claims() -> None:
    token = mint_token(
        "u1", SECRET, name="Ada", email="ada@example.org", role="admin", channels=["c1"]
    )
    identity = verify_token(token, SECRET)
    assert (
        identity.model_dump()
        == Identity(id="u1", name="Ada", email="ada@example.org", role="admin").model_dump()
    )
    # Every claim of the token rides along, for channel authorizers (never decoded twice).
    assert identity.claims["channels"] == ["c1"]
    assert identity.claims["exp"] > 0


def test_open_webui_token_without_expiry_is_accepted() -> None:
    token = jwt.encode({"id": "u1"}, SECRET, algorithm="HS256")
    assert verify_token(token, SECRET).id == "u1"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (None, "missing"),
        ("", "missing"),
        ({"token": "x"}, "missing"),
        ("a.b.c", "invalid"),
        (mint_token("u1", SECRET + "x"), "signature"),
        (mint_token("u1", SECRET, expires_in=-1), "expired"),
        (jwt.encode({"sub": "u1"}, SECRET, algorithm="HS256"), "'id'"),
        (jwt.encode({"id": 5}, SECRET, algorithm="HS256"), "'id'"),
        (jwt.encode({"id": "u1"}, SECRET, algorithm="HS512"), "invalid"),
    ],
)
def test_refusals_say_why(token: object, why: str) -> None:
    with pytest.raises(AuthenticationError, match=why):
        verify_token(token, SECRET)


def test_none_algorithm_is_refused() -> None:
    unsigned = jwt.encode({"id": "u1"}, None, algorithm="none")
    with pytest.raises(AuthenticationError):
        verify_token(unsigned, SECRET)


# -- the plain-token path (auth._plain_claims) against PyJWT's decode ------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signed(header: str, payload: str, secret: str = SECRET) -> str:
    signing = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{_b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest())}"


def _tokens() -> list[tuple[str, str]]:
    """(what, token): tokens of every shape a client could send, valid and not."""
    now = int(time.time())
    claims: list[dict[str, Any]] = [
        {"id": "u1"},
        {"id": "u1", "exp": now + 600, "iat": now - 5, "jti": "j1"},  # Open WebUI's
        {"id": "u1", "exp": now - 1},
        {"id": "u1", "exp": now},
        {"id": "u1", "exp": float(now + 600)},
        {"id": "u1", "exp": str(now + 600)},
        {"id": "u1", "exp": True},
        {"id": "u1", "exp": None},
        {"id": "u1", "iat": now + 600},
        {"id": "u1", "iat": "yesterday"},
        {"id": "u1", "nbf": now + 600},
        {"id": "u1", "nbf": now - 600},
        {"id": "u1", "jti": 5},
        {"id": "u1", "aud": "someone"},
        {"id": "u1", "iss": "someone"},
        {"id": "u1", "sub": 5},
        {"id": "u1", "sub": "u1"},
        {"id": None},
        {"id": ""},
        {"id": 5},
        {"name": "no id"},
        {"id": "u1", "role": "admin", "scope": "event", "chat_id": "c", "message_id": "m"},
    ]
    out = [(f"claims {c}", jwt.encode(c, SECRET, algorithm="HS256")) for c in claims]
    out += [(f"other secret {c}", jwt.encode(c, SECRET + "x", algorithm="HS256")) for c in claims]
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    good = jwt.encode({"id": "u1"}, SECRET, algorithm="HS256")
    head, body, sig = good.split(".")
    admin, none = _b64(b'{"id":"admin"}'), _b64(b'{"alg":"none","typ":"JWT"}')
    out += [
        ("payload a list", _signed(header, _b64(b'["id"]'))),
        ("payload not JSON", _signed(header, _b64(b"{id"))),
        ("payload not base64", _signed(header, "!!!")),
        ("payload of junk characters", _signed(header, body[:4] + "*" + body[4:])),
        ("signature padded", f"{good}=="),
        ("signature with junk", f"{head}.{body}.{sig[:5]}*{sig[5:]}"),
        ("signature cut", good[:-2]),
        ("signature empty", f"{head}.{body}."),
        ("payload swapped", ".".join((head, admin, sig))),
        ("four parts", f"{good}.x"),
        ("two parts", f"{head}.{body}"),
        ("non-ASCII", good + "é"),
        ("headers keys reversed", _signed(_b64(b'{"typ":"JWT","alg":"HS256"}'), body)),
        ("alg none", ".".join((none, body, ""))),
        ("alg HS512", jwt.encode({"id": "u1"}, SECRET, algorithm="HS512")),
        (
            "header with kid",
            jwt.encode({"id": "u1"}, SECRET, algorithm="HS256", headers={"kid": "k"}),
        ),
    ]
    return out


def _pyjwt_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_plain_claims", lambda token, secret: None)


def _outcome(token: str, secret: str) -> object:
    try:
        identity = verify_token(token, secret)
    except AuthenticationError as exc:
        return ("refused", exc.message)
    return ("accepted", identity.model_dump(), identity.claims)


@pytest.mark.parametrize("secret", [SECRET, "short", "-----BEGIN PUBLIC KEY-----" + "x" * 40])
def test_tokens_are_judged_as_pyjwt_judges_them(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = _tokens()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        fast = [_outcome(token, secret) for _, token in tokens]
        _pyjwt_only(monkeypatch)
        slow = [_outcome(token, secret) for _, token in tokens]
    for (what, _), got, expected in zip(tokens, fast, slow, strict=True):
        assert got == expected, what
    accepted = sum(1 for outcome in slow if outcome[0] == "accepted")  # type: ignore[index]
    assert accepted >= (6 if secret == SECRET else 0)  # the corpus has both kinds


def test_the_plain_path_takes_open_webuis_tokens_and_leaves_the_rest_to_pyjwt() -> None:
    now = int(time.time())
    owui = jwt.encode({"id": "u1", "exp": now + 60, "iat": now, "jti": "j"}, SECRET, "HS256")
    assert auth._plain_claims(owui, SECRET) == {"id": "u1", "exp": now + 60, "iat": now, "jti": "j"}
    for token in (
        jwt.encode({"id": "u1", "exp": now - 1}, SECRET, "HS256"),  # PyJWT says why
        jwt.encode({"id": "u1", "aud": "x"}, SECRET, "HS256"),
        jwt.encode({"id": "u1"}, SECRET + "x", "HS256"),
        jwt.encode({"id": "u1"}, SECRET, "HS384"),
    ):
        assert auth._plain_claims(token, SECRET) is None
    assert auth._plain_claims(owui, "short") is None  # PyJWT warns about the key: it decides


def test_mutated_tokens_are_judged_as_pyjwt_judges_them(monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    good = jwt.encode({"id": "u1", "exp": now + 600, "iat": now, "jti": "j"}, SECRET, "HS256")
    rng = random.Random(13)
    alphabet = string.ascii_letters + string.digits + "-_=.+/!é "
    tokens = []
    for _ in range(1500):
        chars = list(good)
        for _ in range(rng.choice((1, 1, 2))):
            at = rng.randrange(len(chars) + 1)
            kind = rng.random()
            if kind < 0.5 and at < len(chars):
                chars[at] = rng.choice(alphabet)  # replaced
            elif kind < 0.8:
                chars.insert(at, rng.choice(alphabet))  # inserted
            elif at < len(chars):
                del chars[at]
        tokens.append("".join(chars))
    tokens += [good[:-1] + c for c in string.ascii_letters + string.digits + "-_"]  # spare bits
    fast = [_outcome(token, SECRET) for token in tokens]
    _pyjwt_only(monkeypatch)
    slow = [_outcome(token, SECRET) for token in tokens]
    for token, got, expected in zip(tokens, fast, slow, strict=True):
        assert got == expected, token
    assert sum(1 for outcome in slow if outcome[0] == "accepted") >= 4  # type: ignore[index]
