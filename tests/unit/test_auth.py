from __future__ import annotations

import jwt
import pytest

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
