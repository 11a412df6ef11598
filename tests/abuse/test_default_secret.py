"""The public default WEBUI_SECRET_KEY is refused off loopback, by every process (item 3).

Anyone can forge an admin token with Open WebUI's published default. The rule, the same for the
edge, the worker and ``eventwire token``: the default is allowed only while everything the
process is configured to talk to is on this machine: the broker (``AMQP_URL`` on a loopback
host, or ``memory://``) and, for the edge, its listen address. Real processes, real exits.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from eventwire import Settings
from eventwire.errors import ConfigurationError
from eventwire.settings import DEV_SECRET, refuse_default_secret
from tests.support.cluster import delete_namespace
from tests.support.procs import Proc

WAIT = 60.0
UNREACHABLE = "amqp://guest:guest@192.0.2.1:5672/"  # TEST-NET-1: not this machine


async def run(*args: str, env: dict[str, str]) -> tuple[int | None, str, str]:
    """Run ``eventwire ARGS``; (exit code, stdout, stderr). A process that gets as far as
    saying it is ready is stopped, and its exit code is None."""
    proc = Proc(
        sys.executable,
        "-m",
        "eventwire_cli",
        *args,
        env={"WEBUI_SECRET_KEY": DEV_SECRET, "EVENTWIRE_CONNECT_TIMEOUT": "2", **env},
        name=args[0],
    )
    await proc.start()
    out: list[str] = []
    try:
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    line = await proc.readline()
                except RuntimeError:  # exited
                    break
                out.append(line)
                if " ready " in line:
                    await proc.stop()
                    return None, "\n".join(out), "\n".join(proc.stderr_lines)
    finally:
        await proc.stop()
    return proc.proc.returncode if proc.proc else None, "\n".join(out), "\n".join(proc.stderr_lines)


@pytest.fixture
async def namespace(amqp_url: str) -> AsyncIterator[str]:
    name = f"ewabuse-{uuid.uuid4().hex[:10]}"
    yield name
    await delete_namespace(Settings(amqp_url=amqp_url, namespace=name))


@pytest.mark.parametrize(
    ("host", "amqp"),
    [("0.0.0.0", "memory://"), ("127.0.0.1", UNREACHABLE)],
    ids=["public-listen-address", "remote-broker"],
)
async def test_the_edge_refuses_the_default_secret_off_loopback(host: str, amqp: str) -> None:
    code, out, err = await run("edge", "--host", host, "--port", "0", env={"AMQP_URL": amqp})
    assert code == 1, out
    assert "configuration_error" in err and "WEBUI_SECRET_KEY" in err
    assert "Traceback" not in err


async def test_the_edge_runs_with_the_default_secret_on_loopback() -> None:
    code, _, err = await run(
        "edge", "--host", "127.0.0.1", "--port", "0", env={"AMQP_URL": "memory://"}
    )
    assert code is None, err  # it got as far as ready
    assert "WEBUI_SECRET_KEY is the public development default" in err


async def test_the_worker_refuses_the_default_secret_with_a_remote_broker() -> None:
    code, _, err = await run("worker", env={"AMQP_URL": UNREACHABLE})
    assert code == 1
    assert "configuration_error" in err and "WEBUI_SECRET_KEY" in err


async def test_the_worker_runs_with_the_default_secret_on_a_loopback_broker(
    amqp_url: str, namespace: str
) -> None:
    code, _, err = await run("worker", env={"AMQP_URL": amqp_url, "EVENTWIRE_NAMESPACE": namespace})
    assert code is None, err


async def test_token_refuses_the_default_secret_for_a_remote_broker() -> None:
    code, out, err = await run("token", "--user", "root", env={"AMQP_URL": UNREACHABLE})
    assert code == 1
    assert out == ""
    assert "WEBUI_SECRET_KEY" in err


async def test_token_mints_with_the_default_secret_for_a_loopback_broker(amqp_url: str) -> None:
    code, out, _ = await run("token", "--user", "alice", env={"AMQP_URL": amqp_url})
    assert code == 0
    assert out.count(".") == 2  # one JWT


@pytest.mark.parametrize(
    ("amqp", "listen", "refused"),
    [
        ("memory://", None, False),
        ("amqp://guest:guest@127.0.0.1:5672/", "127.0.0.1", False),
        ("amqp://u:p@localhost/", "::1", False),
        ("amqps://u:p@[::1]:5671/", None, False),
        ("amqp://u:p@rabbitmq:5672/", None, True),  # a compose service name is another host
        ("amqp://u:p@10.0.0.5/", None, True),
        ("memory://", "0.0.0.0", True),
        ("memory://", "edge.example.org", True),
    ],
)
def test_the_rule_every_process_shares(amqp: str, listen: str | None, refused: bool) -> None:
    settings = Settings(amqp_url=amqp, webui_secret_key=DEV_SECRET)
    if refused:
        with pytest.raises(ConfigurationError, match="WEBUI_SECRET_KEY"):
            refuse_default_secret(settings, what="this", listen_host=listen)
    else:
        refuse_default_secret(settings, what="this", listen_host=listen)
    own = Settings(amqp_url=amqp, webui_secret_key="a-secret-of-our-own-" + "x" * 32)
    refuse_default_secret(own, what="this", listen_host=listen)  # never refused
