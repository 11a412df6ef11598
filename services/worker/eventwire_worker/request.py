"""``__request__``: a request-like object, as Open WebUI hands plugins FastAPI's ``Request``.

With starlette installed (the ``eventwire[plugins]`` extra) it is a real
``starlette.requests.Request``; otherwise a small stand-in with the same attributes.
``app.state.config`` reads like Open WebUI's (``config.ENABLE_TITLE_GENERATION``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from eventwire.errors import ConfigurationError

# The Open WebUI settings plugins read through app.state.config, with Open WebUI's defaults;
# the worker's environment sets them under the same names, as it does for Open WebUI.
OPEN_WEBUI_CONFIG: dict[str, bool | int | str] = {
    "ENABLE_TITLE_GENERATION": True,
    "ENABLE_TAGS_GENERATION": True,
    "ENABLE_FOLLOW_UP_GENERATION": True,
    "ENABLE_SEARCH_QUERY_GENERATION": True,
    "ENABLE_RETRIEVAL_QUERY_GENERATION": True,
    "ENABLE_AUTOCOMPLETE_GENERATION": False,
    "AUTOCOMPLETE_GENERATION_INPUT_MAX_LENGTH": -1,
    "ENABLE_WEB_SEARCH": False,
    "ENABLE_IMAGE_GENERATION": False,
    "ENABLE_CODE_INTERPRETER": True,
    "TASK_MODEL": "",
    "TASK_MODEL_EXTERNAL": "",
    "WEBUI_URL": "",
    "WEBUI_NAME": "Open WebUI",
}


class AppConfig(dict[str, Any]):
    """Open WebUI's ``app.state.config``: attributes (``config.TASK_MODEL``) and a mapping."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"app.state.config has no {name!r}: eventwire provides only "
                f"{', '.join(sorted(self))}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def app_config() -> AppConfig:
    """A fresh copy per run: a plugin that changes its config changes no other run's."""
    return AppConfig(_config_from_environment())


@lru_cache(maxsize=1)
def _config_from_environment() -> Mapping[str, bool | int | str]:
    values: dict[str, bool | int | str] = {}
    for name, default in OPEN_WEBUI_CONFIG.items():
        raw = os.environ.get(name)
        if raw is None:
            values[name] = default
        elif isinstance(default, bool):
            values[name] = raw.strip().lower() == "true"  # Open WebUI's reading of booleans
        elif isinstance(default, int):
            try:
                values[name] = int(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from None
        else:
            values[name] = raw
    return values


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
