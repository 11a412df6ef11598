"""JSON text as the edge reads and writes it: strict where Python's ``json`` is lenient.

Python reads and writes ``NaN`` / ``Infinity`` (not JSON: a browser's parser fails on them),
integers of any size (the bus's msgpack carries 64 bits) and any nesting (the parser's own
recursion limit ends in ``RecursionError``). Client packets and HTTP bodies are read here;
what is refused is a ``NotJson`` naming the problem, and nothing the edge writes to a browser
can carry a non-finite number.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

# What msgpack (the bus) can carry: a value outside would fail later, deep inside a publish.
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1


class NotJson(ValueError):
    """The text is not JSON the edge accepts; the message says why."""


class NonFinite(NotJson):
    """``NaN`` / ``Infinity``: Python writes and reads them, browsers' JSON parsers do not."""


def _refuse_constant(name: str) -> NoReturn:
    raise NonFinite(f"{name} is not JSON (a browser cannot parse it); send null or a string")


class StrictJson:
    """``loads`` / ``dumps`` with the edge's rules; python-socketio packets use it as ``json``."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    def loads(self, text: str | bytes, **_: Any) -> Any:
        try:
            value = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise NotJson(f"nested deeper than {self.max_depth} levels") from None
        except NotJson:
            raise
        except ValueError as exc:  # JSONDecodeError, over-long integer literals
            raise NotJson(f"invalid JSON: {exc}") from None
        problem = self.check(value)
        if problem is not None:
            raise NotJson(problem)
        return value

    def dumps(self, value: Any, **options: Any) -> str:
        """Raises ``ValueError`` for NaN / Infinity instead of writing them."""
        return json.dumps(value, **{**options, "allow_nan": False})

    def check(self, value: Any) -> str | None:
        """What makes a parsed value unacceptable: too deep, an integer out of range."""
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            item, depth = stack.pop()
            if isinstance(item, dict | list):
                if depth > self.max_depth:
                    return f"nested deeper than {self.max_depth} levels"
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)
            elif isinstance(item, int) and not MIN_INT <= item <= MAX_INT:
                digits = str(item)
                shown = digits if len(digits) <= 24 else digits[:24] + "..."
                return f"integer {shown} is outside the 64-bit range the bus carries"
        return None
