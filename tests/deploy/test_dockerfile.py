"""deploy/Dockerfile: hadolint, and what the images promise (non-root, health, entrypoints).

No Docker engine runs here, so the images are not built; what is checked is everything that can
be without one: the linter, each stage's instructions, and that every file the build copies
from the context exists and passes deploy/Dockerfile.dockerignore.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field

import pytest

from .contract import DEPLOY, ROOT, tool

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    return out


def parse(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """Global ARG defaults and the stages by name (a stage inherits its base stage's lines)."""
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            image, _, name = rest.partition(" AS ")
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image.strip())
            current = Stage(image, name.strip() or image)
            if image in stages:  # FROM an earlier stage: its settings carry over
                current.instructions = list(stages[image].instructions)
            stages[current.name] = current
        elif current is None:
            if keyword == "ARG":
                key, _, value = rest.partition("=")
                args[key] = value
        else:
            current.instructions.append((keyword, rest))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse(DOCKERFILE.read_text())[1]


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stages_and_base_images_are_pinned(stages: dict[str, Stage]) -> None:
    assert {"page", "build", "runtime", "edge", "worker"} <= stages.keys()
    for stage in stages.values():
        if stage.image in stages:
            continue
        tag = stage.image.partition(":")[2]
        assert tag and tag != "latest" and "latest" not in tag, stage.image
    assert stages["page"].image.startswith("node:")
    assert stages["runtime"].image.startswith("python:3.11-slim")


@pytest.mark.parametrize(("target", "extra"), [("edge", "edge"), ("worker", "worker")])
def test_runtime_targets(stages: dict[str, Stage], target: str, extra: str) -> None:
    stage = stages[target]
    users = stage.all("USER")
    assert users, f"{target} runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root"), f"{target} runs as {user}"
    assert stage.all("HEALTHCHECK"), f"{target} has no HEALTHCHECK"
    assert stage.all("EXPOSE"), f"{target} exposes no port"
    assert json.loads(stage.all("ENTRYPOINT")[-1]) == ["eventwire", target]
    installs = [r for r in stage.all("RUN") if "pip install" in r]
    assert installs and all("--no-index" in r for r in installs)  # only the built wheels
    extras = dict(a.split("=", 1) for a in stage.all("ARG") if "=" in a)["EXTRAS"]
    assert extra in extras.split(",")
    assert "eventwire[${EXTRAS}]" in installs[-1]


def test_the_page_client_is_built_as_the_makefile_builds_it(stages: dict[str, Stage]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    page_dir = re.search(r"^PAGE_DIR\s*:=\s*(\S+)", makefile, re.M)
    client_js = re.search(r"^CLIENT_JS\s*:=\s*(\S+)", makefile, re.M)
    assert page_dir and client_js
    target = client_js.group(1).replace("$(PAGE_DIR)", page_dir.group(1))
    page = " ".join(stages["page"].all("RUN"))
    assert "npm ci" in page
    assert "node_modules/socket.io-client/dist/socket.io.min.js" in page
    copies = stages["build"].all("COPY")
    assert any(c.startswith("--from=page ") and c.endswith(f" {target}") for c in copies)


def test_the_worker_image_carries_plugins(stages: dict[str, Stage]) -> None:
    worker = stages["worker"]
    assert any(
        "services/worker/eventwire_worker/examples/ /app/plugins/" in c for c in worker.all("COPY")
    )
    assert any("EVENTWIRE_PLUGINS_DIR=/app/plugins" in e for e in worker.all("ENV"))


# -- the build context: every COPY source exists and passes the dockerignore ----------------


def _pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):  # any number of directories, none included
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def included(path: str, rules: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = True
    for rule in rules:
        negate = rule.startswith("!")
        regex = _pattern(rule.lstrip("!").strip("/"))
        if any(regex.fullmatch(p) for p in prefixes):
            verdict = negate
    return verdict


def dockerignore_rules() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_sources(stages: dict[str, Stage]) -> set[str]:
    sources: set[str] = set()
    for stage in stages.values():
        for copy in stage.all("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if "--from=" in copy:
                continue
            sources.update(w.rstrip("/") for w in words[:-1])
    return sources


def test_copied_sources_exist_and_pass_the_dockerignore(stages: dict[str, Stage]) -> None:
    rules = dockerignore_rules()
    sources = context_sources(stages)
    assert {"pyproject.toml", "README.md", "libs", "services"} <= sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert included(source, rules), f"{source} is excluded by the dockerignore"
    wanted = [
        "libs/eventwire/__init__.py",
        "services/edge/eventwire_edge/static/app.js",
        "services/edge/package-lock.json",
        "services/worker/eventwire_worker/examples/showcase.py",
    ]
    unwanted = [
        "services/edge/node_modules/socket.io-client/package.json",
        "services/edge/eventwire_edge/static/vendor/socket.io.min.js",
        "libs/eventwire/__pycache__/x.pyc",
        "tests/conftest.py",
        ".venv/bin/python",
        "deploy/Dockerfile",
    ]
    for path in wanted:
        assert (ROOT / path).exists(), path
        assert included(path, rules), path
    for path in unwanted:
        assert not included(path, rules), path


def test_the_dockerignore_matcher_follows_docker() -> None:
    rules = ["*", "!libs/", "**/__pycache__", "!keep/**/x.txt"]
    assert included("libs/a/b.py", rules)
    assert not included("libs/a/__pycache__/b.pyc", rules)
    assert not included("README.md", rules)
    assert not included("keep/a/y.txt", rules)
    assert included("keep/a/b/x.txt", rules)
