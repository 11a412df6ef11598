"""The edge's JSON rules: what Python's json accepts and the browser or the bus would not."""

from __future__ import annotations

import math

import pytest

from eventwire_edge.jsontext import MAX_INT, MIN_INT, NonFinite, NotJson, StrictJson

RULES = StrictJson(max_depth=4)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_non_finite_literals_are_refused(text: str) -> None:
    with pytest.raises(NonFinite, match="not JSON"):
        RULES.loads(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[[[[[]]]]]", "nested deeper than 4"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 4"),  # the parser's own limit
        (str(MAX_INT + 1), "64-bit"),
        (str(MIN_INT - 1), "64-bit"),
        ("{", "invalid JSON"),
        (b"\xff\xfe\xfa", "invalid JSON"),
        ("1" * 5000, "invalid JSON"),  # Python's own limit on integer digits
    ],
)
def test_what_is_refused_is_named(text: str | bytes, why: str) -> None:
    with pytest.raises(NotJson, match=why):
        RULES.loads(text)


def test_what_is_accepted_comes_back_unchanged() -> None:
    value = {"a": [1, 2.5, None, True, "x"], "b": {"c": [MAX_INT, MIN_INT]}}
    assert RULES.loads(RULES.dumps(value)) == value


def test_writing_a_non_finite_number_raises() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        RULES.dumps({"x": math.nan})
