"""Loading Open WebUI's single-file plugins: frontmatter, one class, valves.

A file that fails to load is reported with its name and error and does not stop the others.
Plugins that import Open WebUI's own modules (``open_webui.*``: its chats, files, users ...)
run when the ``open-webui`` package is installed beside the worker and the worker is given Open
WebUI's database (``DATABASE_URL`` and/or ``DATA_DIR``, as Open WebUI itself reads them); they
then work on the same data as the Open WebUI deployment. Otherwise they are reported as
unsupported at load time, naming the module and what is missing, instead of failing mid-run.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import logging
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from eventwire.errors import ConfigurationError, NotFound, PluginError, PluginNotLoaded

log = logging.getLogger(__name__)

Kind = Literal["pipe", "filter", "action", "tools"]
Model = dict[str, Any]  # a model as Open WebUI hands it to plugins (``__model__``)
CLASS_OF_KIND: dict[str, Kind] = {
    "Pipe": "pipe",
    "Filter": "filter",
    "Action": "action",
    "Tools": "tools",
}


class UnsupportedPlugin(PluginError):
    """The plugin needs something eventwire does not provide."""

    code = "unsupported_plugin"


class PluginNotFound(PluginError, NotFound):
    """No loaded plugin has that id."""

    code = "plugin_not_found"


def parse_frontmatter(source: str) -> dict[str, str]:
    """``key: value`` lines of the module docstring, as Open WebUI reads them."""
    try:
        docstring = ast.get_docstring(ast.parse(source)) or ""
    except SyntaxError:
        return {}
    fields: dict[str, str] = {}
    for line in docstring.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            fields[key.strip().lower()] = value.strip()
    return fields


def open_webui_imports(source: str) -> list[str]:
    """Modules under ``open_webui`` the source imports (eventwire cannot provide them)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "open_webui"]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == "open_webui"
        ):
            found.append(node.module)
    return found


@dataclass
class Plugin:
    id: str
    kind: Kind
    path: Path
    frontmatter: dict[str, str]
    module: types.ModuleType
    instance: Any

    @property
    def name(self) -> str:
        return str(getattr(self.instance, "name", None) or self.frontmatter.get("title") or self.id)

    @property
    def user_valves(self) -> type[Any] | None:
        cls = getattr(self.module, "UserValves", None) or getattr(
            type(self.instance), "UserValves", None
        )
        return cls if isinstance(cls, type) else None

    @property
    def toggle(self) -> bool:
        """A Filter the user switches on per request (Open WebUI's ``toggle``)."""
        return self.kind == "filter" and bool(getattr(self.instance, "toggle", False))

    @property
    def priority(self) -> float:
        valves = getattr(self.instance, "valves", None)
        value = getattr(valves, "priority", 0)
        return float(value) if isinstance(value, int | float) else 0.0


@dataclass
class Registry:
    plugins: dict[str, Plugin] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # file name -> why it did not load
    _listed: dict[str, list[dict[str, str]]] = field(default_factory=dict, repr=False)

    def of_kind(self, kind: Kind) -> list[Plugin]:
        return [p for p in self.plugins.values() if p.kind == kind]

    def get(self, plugin_id: str, kind: Kind) -> Plugin:
        plugin = self.plugins.get(plugin_id)
        if plugin is None and (why := self.errors.get(f"{plugin_id}.py")) is not None:
            raise PluginNotLoaded(f"plugin {plugin_id!r} did not load ({plugin_id}.py): {why}")
        if plugin is None or plugin.kind != kind:
            known = ", ".join(sorted(p.id for p in self.of_kind(kind))) or "none"
            raise PluginNotFound(f"no {kind} plugin {plugin_id!r} is loaded (loaded: {known})")
        return plugin

    def pipe_for(self, model_id: str) -> Plugin:
        """``pipe`` or, for manifolds, ``pipe.sub`` (the body keeps the full model id)."""
        return self.get(model_id.split(".", 1)[0], "pipe")

    def filters(self, enabled: list[str] | None = None) -> list[Plugin]:
        """The Filters that run, in Open WebUI's order (priority, then id); a ``toggle``
        Filter only when ``enabled`` (the request's ``filter_ids``) names it."""
        chosen = [p for p in self.of_kind("filter") if not p.toggle or p.id in (enabled or [])]
        return sorted(chosen, key=lambda p: (p.priority, p.id))

    async def models(self) -> list[dict[str, str]]:
        """Every model id the loaded pipes offer (manifolds expand to their sub-pipes)."""
        models: list[dict[str, str]] = []
        for plugin in self.of_kind("pipe"):
            models += await self._models_of(plugin)
        return models

    async def model(self, model_id: str) -> Model:
        """The model dict Open WebUI gives plugins as ``__model__`` for a chat on ``model_id``.

        A manifold's listing is kept from the last time it was asked for (``models``), so a
        run does not call ``pipes()`` each time.
        """
        pipe = self.plugins.get(model_id.split(".", 1)[0])
        if pipe is not None and pipe.kind == "pipe":
            try:
                listed = self._listed.get(pipe.id) or await self._models_of(pipe)
            except Exception as exc:  # a manifold's pipes() is plugin code
                log.warning(
                    "listing the models of %s failed: %s: %s", pipe.id, type(exc).__name__, exc
                )
                listed = []
            for known in listed:
                if known["id"] == model_id:
                    return {**known, **_MODEL_FIELDS, "pipe": {"type": "pipe"}}
        return {"id": model_id, "name": model_id, **_MODEL_FIELDS}

    async def _models_of(self, plugin: Plugin) -> list[dict[str, str]]:
        subs = getattr(plugin.instance, "pipes", None)
        if subs is None:
            listed = [{"id": plugin.id, "name": plugin.name}]
        else:
            found = subs() if callable(subs) else subs
            if inspect.isawaitable(found):
                found = await found
            listed = [
                {"id": f"{plugin.id}.{sub['id']}", "name": f"{plugin.name}{sub.get('name', '')}"}
                for sub in found or []
            ]
        self._listed[plugin.id] = listed
        return listed


_MODEL_FIELDS = {"object": "model", "owned_by": "eventwire"}  # as GET /api/models lists them


def load_plugins(directory: str | Path, *, install_requirements: bool = False) -> Registry:
    directory = Path(directory)
    if not directory.is_dir():
        raise PluginError(f"plugin directory {directory} does not exist")
    registry = Registry()
    valves = _deployer_valves(directory)
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            plugin = load_plugin(path, valves.get(path.stem, {}), install_requirements)
        except Exception as exc:  # any failure of third-party code: report it, load the rest
            registry.errors[path.name] = f"{type(exc).__name__}: {exc}"
            log.error("plugin %s not loaded: %s: %s", path.name, type(exc).__name__, exc)
            continue
        registry.plugins[plugin.id] = plugin
        log.info("loaded %s plugin %s (%s)", plugin.kind, plugin.id, path.name)
    return registry


def _open_webui_missing() -> str:
    """Why plugins importing ``open_webui.*`` cannot run here ("" when they can)."""
    if importlib.util.find_spec("open_webui") is None:
        return (
            "the open-webui package is not installed beside this worker (install the Open WebUI "
            "version your deployment runs, and give the worker its DATABASE_URL / DATA_DIR)"
        )
    if not (os.environ.get("DATABASE_URL") or os.environ.get("DATA_DIR")):
        return (
            "the worker has no Open WebUI database: set DATABASE_URL (and DATA_DIR) to your "
            "Open WebUI's, or the plugin would write to an empty database of its own"
        )
    return ""


def load_plugin(path: Path, valves: dict[str, Any], install_requirements: bool = False) -> Plugin:
    source = path.read_text(encoding="utf-8")
    internals = open_webui_imports(source)
    if internals and (missing := _open_webui_missing()):
        raise UnsupportedPlugin(
            f"imports Open WebUI's own modules ({', '.join(internals)}): {missing}"
        )
    frontmatter = parse_frontmatter(source)
    requirements = [r.strip() for r in frontmatter.get("requirements", "").split(",") if r.strip()]
    if requirements and install_requirements:
        _pip_install(requirements)
    module = types.ModuleType(f"eventwire_plugin_{path.stem}")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module  # pydantic and dataclasses resolve names through it
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except ModuleNotFoundError as exc:
        sys.modules.pop(module.__name__, None)
        hint = _install_hint(exc, requirements, install_requirements)
        raise PluginError(f"{exc}: {hint}") from exc
    except BaseException:
        sys.modules.pop(module.__name__, None)
        raise
    found = [
        (cls, kind)
        for name, kind in CLASS_OF_KIND.items()
        if isinstance(cls := getattr(module, name, None), type)
    ]
    if not found:
        raise PluginError("defines none of the classes Pipe, Filter, Action, Tools")
    cls, kind = found[0]
    instance = cls()
    valves_cls = getattr(cls, "Valves", None) or getattr(module, "Valves", None)
    if isinstance(valves_cls, type) and (valves or not hasattr(instance, "valves")):
        instance.valves = valves_cls(**valves)
    return Plugin(path.stem, kind, path, frontmatter, module, instance)


def _install_hint(
    exc: ModuleNotFoundError, requirements: list[str], install_requirements: bool
) -> str:
    """How a deployer gets the missing module onto the worker."""
    if requirements and not install_requirements:
        return (
            f"the frontmatter requires {', '.join(requirements)}; set "
            "EVENTWIRE_INSTALL_REQUIREMENTS=true to install them"
        )
    if requirements:
        return f"the frontmatter's requirements ({', '.join(requirements)}) do not provide it"
    package = (exc.name or "the package").split(".")[0]
    return (
        f"install it on the worker (pip install {package}, or the package that provides it), "
        "or list it under `requirements:` in the plugin's frontmatter and set "
        "EVENTWIRE_INSTALL_REQUIREMENTS=true"
    )


def _deployer_valves(directory: Path) -> dict[str, dict[str, Any]]:
    """``valves.json`` beside the plugins: ``{plugin_id: {valve: value}}`` (optional).

    A deployer's file that does not parse stops the worker, naming the file and the place:
    running plugins without the valves (keys, endpoints) they were given is worse.
    """
    path = directory / "valves.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must hold an object of plugin id -> valves")
    for plugin_id, valves in data.items():
        if not isinstance(valves, dict):
            raise ConfigurationError(
                f"{path}: the valves of {plugin_id!r} must be an object of valve -> value"
            )
    return data


def _pip_install(requirements: list[str]) -> None:
    log.info("installing plugin requirements: %s", ", ".join(requirements))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", *requirements],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PluginError(f"pip install {' '.join(requirements)} failed: {done.stderr[-500:]}")
