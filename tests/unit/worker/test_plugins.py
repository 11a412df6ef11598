from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from eventwire.errors import ConfigurationError
from eventwire_worker.plugins import (
    PluginError,
    PluginNotFound,
    UnsupportedPlugin,
    load_plugin,
    load_plugins,
    open_webui_imports,
    parse_frontmatter,
)
from eventwire_worker.service import EXAMPLES as EXAMPLES_DIR
from eventwire_worker.service import build_worker
from eventwire_worker.settings import WorkerSettings

EXAMPLES = EXAMPLES_DIR
PLUGINS = Path(__file__).parents[2] / "plugins"


def test_frontmatter() -> None:
    source = (
        '"""\ntitle: My Tool\nauthor: someone\nversion: 0.2\nrequirements: a, b>=2\n"""\nx = 1\n'
    )
    assert parse_frontmatter(source) == {
        "title": "My Tool",
        "author": "someone",
        "version": "0.2",
        "requirements": "a, b>=2",
    }
    assert parse_frontmatter("x = (") == {}


def test_open_webui_imports_are_found() -> None:
    source = "import os\nfrom open_webui.utils.misc import x\nimport open_webui.models\n"
    assert open_webui_imports(source) == ["open_webui.utils.misc", "open_webui.models"]
    assert open_webui_imports("from .open_webui import x\n") == []


def test_unsupported_plugin_names_the_module(tmp_path: Path) -> None:
    path = tmp_path / "p.py"
    path.write_text("from open_webui.models.chats import Chats\nclass Pipe:\n  pass\n")
    with pytest.raises(UnsupportedPlugin, match=r"open_webui\.models\.chats"):
        load_plugin(path, {})


def test_a_file_without_a_plugin_class(tmp_path: Path) -> None:
    path = tmp_path / "p.py"
    path.write_text("x = 1\n")
    with pytest.raises(PluginError, match="none of the classes"):
        load_plugin(path, {})


def test_deployer_valves_and_kinds(tmp_path: Path) -> None:
    (tmp_path / "valves.json").write_text(json.dumps({"showcase": {"delay": 0.5}}))
    for name in ("showcase.py", "polite_filter.py", "clock_tool.py", "thumbs_action.py"):
        (tmp_path / name).write_text((EXAMPLES / name).read_text())
    registry = load_plugins(tmp_path)
    assert registry.errors == {}
    assert registry.plugins["showcase"].instance.valves.delay == 0.5
    assert {p.id: p.kind for p in registry.plugins.values()} == {
        "showcase": "pipe",
        "polite_filter": "filter",
        "clock_tool": "tools",
        "thumbs_action": "action",
    }
    with pytest.raises(PluginNotFound, match="loaded: showcase"):
        registry.pipe_for("nope")


async def test_manifold_models() -> None:
    registry = load_plugins(EXAMPLES)
    ids = [m["id"] for m in await registry.models()]
    assert "manifold.upper" in ids
    assert "manifold.lower" in ids
    assert registry.pipe_for("manifold.upper").id == "manifold"


def test_missing_directory() -> None:
    with pytest.raises(PluginError, match="does not exist"):
        load_plugins("/no/such/dir")


def test_malformed_valves_json_names_the_file_and_the_position(tmp_path: Path) -> None:
    (tmp_path / "valves.json").write_text('{"showcase": {"delay": 0.5,}}')
    with pytest.raises(ConfigurationError) as refused:
        load_plugins(tmp_path)
    message = refused.value.message
    assert str(tmp_path / "valves.json") in message
    assert "line 1 column 28" in message


def test_valves_json_entries_must_be_objects(tmp_path: Path) -> None:
    (tmp_path / "valves.json").write_text('{"showcase": 3}')
    with pytest.raises(ConfigurationError, match=r"valves\.json.*'showcase'.*object"):
        load_plugins(tmp_path)


def test_each_load_error_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    settings = WorkerSettings(amqp_url="memory://load-errors", plugins_dir=str(PLUGINS))
    with caplog.at_level(logging.INFO):
        worker = build_worker(settings)
    failed = sorted(worker.registry.errors)
    assert failed  # tests/plugins holds deliberately broken files
    for name in failed:
        mentions = [r for r in caplog.records if name in r.getMessage()]
        assert len(mentions) == 1, [r.getMessage() for r in mentions]
        assert mentions[0].levelno == logging.ERROR
