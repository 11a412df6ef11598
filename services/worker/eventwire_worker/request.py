"""``__request__``: a request-like object, as Open WebUI hands plugins FastAPI's ``Request``.

With starlette installed (the ``eventwire[plugins]`` extra) it is a real
``starlette.requests.Request``; otherwise a small stand-in with the same attributes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class _Headers(dict[str, str]):
    """Case-insensitive, like starlette's."""

    def __init__(self, items: dict[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in items.items()})

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)


class RequestShim:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.headers = _Headers({k.decode(): v.decode() for k, v in scope["headers"]})
        self.path_params: dict[str, Any] = scope["path_params"]
        self.query_params: dict[str, str] = {}
        self.app = scope["app"]
        self.state = SimpleNamespace(**scope["state"])
        self.method = scope["method"]
        self.url = SimpleNamespace(path=scope["path"])
        self.cookies: dict[str, str] = {}
        self.client = None


def make_request(
    headers: dict[str, str],
    *,
    path: str,
    path_params: dict[str, Any],
    app_state: dict[str, Any],
) -> Any:
    app = SimpleNamespace(state=_state(app_state))
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "path_params": path_params,
        "app": app,
        "state": {},
        "client": None,
        "server": None,
        "scheme": "http",
    }
    try:
        from starlette.requests import Request
    except ImportError:
        return RequestShim(scope)
    return Request(scope)


def _state(values: dict[str, Any]) -> Any:
    try:
        from starlette.datastructures import State
    except ImportError:
        return SimpleNamespace(**values)
    return State(values)
