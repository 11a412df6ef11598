"""The Open WebUI launcher's checks and lifespan, without Open WebUI (the e2e test runs it)."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from eventwire_cli import openwebui
from eventwire_cli.main import main
from eventwire_cli.openwebui import LaunchRefused, check_environment, with_manager

GOOD = {"REDIS_URL": "redis://127.0.0.1:6379/0", "WEBUI_SECRET_KEY": "k"}


def test_a_replica_environment_is_accepted_and_completed() -> None:
    assert check_environment(GOOD) == {"WEBSOCKET_MANAGER": "redis", "FROM_INIT_PY": "true"}
    assert check_environment({**GOOD, "WEBSOCKET_MANAGER": "Redis", "UVICORN_WORKERS": "1"})
    only_ws_redis = {"WEBSOCKET_REDIS_URL": GOOD["REDIS_URL"], "WEBUI_SECRET_KEY": "k"}
    assert check_environment(only_ws_redis)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"WEBSOCKET_MANAGER": "local"}, "WEBSOCKET_MANAGER='local'"),
        ({"REDIS_URL": ""}, "REDIS_URL is not set"),
        ({"WEBUI_SECRET_KEY": ""}, "WEBUI_SECRET_KEY is not set"),
        ({"UVICORN_WORKERS": "4"}, "UVICORN_WORKERS=4"),
    ],
)
def test_what_would_break_replicas_is_refused_by_name(change: dict[str, str], named: str) -> None:
    with pytest.raises(LaunchRefused, match=named):
        check_environment({**GOOD, **change})


def test_without_open_webui_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "open_webui" else real(name)
    )
    assert main(["openwebui", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "make openwebui-venv" in err
    assert f"open-webui=={openwebui.TESTED_VERSION}" in err


class FakeManager:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def start(self) -> None:
        self.log.append("manager start")

    async def close(self) -> None:
        self.log.append("manager close")

    def describe(self) -> dict[str, Any]:
        return {}


async def test_the_manager_is_connected_before_open_webui_starts_and_closed_after_it() -> None:
    log: list[str] = []

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        log.append("open webui up")
        try:
            yield
        finally:
            log.append("open webui down")

    async with with_manager(lifespan, FakeManager(log))(object()):
        log.append("serving")
    assert log == ["manager start", "open webui up", "serving", "open webui down", "manager close"]


async def test_the_manager_is_closed_when_open_webui_fails_to_start() -> None:
    log: list[str] = []

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError, match="no database"):
        async with with_manager(lifespan, FakeManager(log))(object()):
            pass  # pragma: no cover
    assert log == ["manager start", "manager close"]
