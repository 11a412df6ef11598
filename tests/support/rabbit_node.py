"""A private, throwaway RabbitMQ node for tests that need to restart a broker.

The shared broker (``rabbit@localhost`` on port 5672) must never be stopped by
tests, so tests that exercise broker restarts get their own node instead::

    with RabbitNode() as node:
        ...  # connect to node.url
        node.restart()  # durable entities survive (same mnesia directory)

Isolation from the shared node (everything lives under one temp directory):

* unique ``RABBITMQ_NODENAME`` and free ``RABBITMQ_NODE_PORT`` /
  ``RABBITMQ_DIST_PORT``;
* private ``rabbitmq.conf`` (the system one pins ``listeners.tcp`` to 5672),
  empty ``conf.d``, no ``advanced.config``, empty ``rabbitmq-env.conf``
  (the system one sets ``NODENAME=rabbit@localhost``) and an empty
  enabled-plugins file (a system-wide management plugin would grab 15672);
* private ``HOME`` with its own Erlang cookie, so neither this node nor the
  ``rabbitmqctl`` calls made here can even authenticate to the shared node;
* private mnesia, log and PID-file locations.

The Debian ``/usr/sbin/rabbitmq-server`` wrapper is bypassed on purpose: it
``su``s to ``rabbitmq`` (resetting ``HOME``, hence the cookie), ``cd``s to
``/var/lib/rabbitmq`` and, when already running as ``rabbitmq``, overwrites the
shared node's ``/var/log/rabbitmq/startup_log``.  The real scripts in
``/usr/lib/rabbitmq/bin`` are run directly; when running as root the
privileges are dropped to the ``rabbitmq`` user (like the wrapper does), and
any other user simply runs the node as itself.

Every process of the node inherits a marker environment variable, which is how
leftover OS processes are found (``/proc/<pid>/environ``) and killed by
``cleanup``.  ``epmd`` is shared with the other nodes and is never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["RabbitNode", "RabbitNodeError", "rabbitmq_available"]

_BIN_DIRS = (Path("/usr/lib/rabbitmq/bin"), Path("/usr/lib/rabbitmq/sbin"))
_NODE_USER = "rabbitmq"
_MARKER_VAR = "EWTEST_RABBIT_NODE"
# Ports that must never be handed out: epmd, the shared node's AMQP,
# distribution and management ports, stream port, and the range the
# rabbitmqctl CLI uses for its own distribution listener.
_RESERVED_PORTS = frozenset({4369, 5552, 5672, 15672, 25672, *range(35672, 35683)})
_ENV_PREFIXES = ("RABBITMQ_", "ERL_", "ERLANG_")


class StartedContext:
    """``with x:`` starts ``x`` and cleans it up whatever happens (a failed start too)."""

    def start(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


class RabbitNodeError(RuntimeError):
    """The private node could not be started or stopped."""


def _bin(name: str) -> Path:
    for directory in _BIN_DIRS:
        candidate = directory / name
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise RabbitNodeError(f"{name} not found (is rabbitmq-server installed?)")
    return Path(found)


def rabbitmq_available() -> bool:
    """Whether a private node can be started here (for ``pytest.skip``)."""
    try:
        _bin("rabbitmq-server")
        _bin("rabbitmqctl")
    except RabbitNodeError:
        return False
    return shutil.which("erl") is not None


def _free_port(exclude: set[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _RESERVED_PORTS and port not in exclude:
            return port
    raise RabbitNodeError("could not find a free TCP port")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _proc_comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie has no environ and cannot be killed)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


class RabbitNode(StartedContext):
    """A throwaway RabbitMQ node with its own name, ports and data directory."""

    name: str
    port: int
    dist_port: int
    url: str
    base_dir: Path

    def __init__(
        self, prefix: str = "ewtest", host: str = "localhost", cookie: str | None = None
    ) -> None:
        """``cookie``: the Erlang cookie, shared by the nodes of one private cluster."""
        self.name = f"{prefix}-{secrets.token_hex(4)}@{host}"
        self.cookie = cookie or secrets.token_hex(16).upper()
        self.port = _free_port(set())
        self.dist_port = _free_port({self.port})
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self._server = _bin("rabbitmq-server")
        self._ctl_bin = _bin("rabbitmqctl")
        self._user = self._node_user()
        self.base_dir = Path(tempfile.mkdtemp(prefix=f"{self.name.partition('@')[0]}-"))
        self._prepared = False
        self._removed = False
        self._frozen = False
        atexit.register(self.cleanup)

    # -- paths ------------------------------------------------------------

    @property
    def mnesia_base(self) -> Path:
        return self.base_dir / "mnesia"

    @property
    def log_base(self) -> Path:
        return self.base_dir / "log"

    @property
    def log_file(self) -> Path:
        return self.log_base / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "node.pid"

    # -- lifecycle --------------------------------------------------------

    def start(self, timeout: float = 30) -> None:
        """Start detached; return once AMQP accepts and ``await_startup`` succeeds."""
        if self._removed:
            raise RabbitNodeError(f"{self.name} was cleaned up; create a new RabbitNode")
        if self.running():
            return
        self._prepare()
        # A port taken by someone else would make the readiness probe lie.
        for port in (self.port, self.dist_port):
            if _port_open(port):
                raise RabbitNodeError(f"port {port} of {self.name} is already in use")
        try:
            result = self._run([str(self._server), "-detached"], timeout)
        except subprocess.TimeoutExpired:
            error: str | None = f"rabbitmq-server -detached hung for {timeout}s"
        else:
            error = (
                f"rabbitmq-server -detached failed:\n{result.stdout}{result.stderr}"
                if result.returncode != 0
                else self._wait_ready(timeout)
            )
        if error is not None:
            self._kill_processes()
            raise RabbitNodeError(f"{error}\n--- tail of {self.log_file} ---\n{self._log_tail()}")

    def stop(self, timeout: float = 30) -> None:
        """Gracefully stop the node and wait until its VM is gone; idempotent.

        Raises ``RabbitNodeError`` if the graceful stop failed and the node had
        to be killed (so a restart test does not silently test a crash).
        """
        if not self._node_pids():
            return
        deadline = time.monotonic() + timeout
        args = ["stop", "--idempotent"]
        if self.pid_file.exists():
            args.append(str(self.pid_file))  # makes the CLI wait for the VM to exit
        error = ""
        try:
            result = self.ctl(*args, timeout=timeout)
            if result.returncode != 0:
                error = f"rabbitmqctl stop failed:\n{result.stdout}{result.stderr}"
        except subprocess.TimeoutExpired:
            error = f"rabbitmqctl stop timed out after {timeout}s"
        while not error and (self._node_pids() or _port_open(self.port)):
            if time.monotonic() > deadline:
                error = f"{self.name} still running {timeout}s after rabbitmqctl stop"
            time.sleep(0.1)
        if error:
            self._kill_processes()
            raise RabbitNodeError(f"{error}\n(node was killed)")

    def restart(self) -> None:
        """Stop and start again with the same name, ports and mnesia directory."""
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL every process of the node (simulates a broker crash)."""
        self._kill_processes()

    def beam_pid(self) -> int:
        """The PID of the node's Erlang VM (raises if it is not running)."""
        pid = self._beam_pid()
        if pid is None:
            raise RabbitNodeError(f"{self.name} is not running")
        return pid

    def freeze(self) -> None:
        """SIGSTOP the VM: sockets stay open, nothing answers (a hung broker)."""
        os.kill(self.beam_pid(), signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        """SIGCONT the VM after ``freeze``; idempotent."""
        if self._frozen:
            with contextlib.suppress(ProcessLookupError, RabbitNodeError):
                os.kill(self.beam_pid(), signal.SIGCONT)
            self._frozen = False

    def cleanup(self) -> None:
        """Stop if running, kill leftovers, remove the temp directory; idempotent."""
        if self._removed:
            return
        self.thaw()  # a frozen VM never answers rabbitmqctl stop
        with contextlib.suppress(Exception):
            self.stop()
        self._kill_processes()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        self._removed = True
        atexit.unregister(self.cleanup)

    def running(self) -> bool:
        """Whether the node's VM is alive (not necessarily fully booted)."""
        return self._beam_pid() is not None

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``rabbitmqctl -n NODE ARGS...`` with this node's environment."""
        return self._run([str(self._ctl_bin), "-n", self.name, *args], timeout)

    def __repr__(self) -> str:
        return f"RabbitNode(name={self.name!r}, port={self.port})"

    # -- internals --------------------------------------------------------

    @staticmethod
    def _node_user() -> pwd.struct_passwd | None:
        """The user to drop to: ``rabbitmq`` when root, else nobody (run as self)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(_NODE_USER)
        except KeyError:
            return None

    def _prepare(self) -> None:
        if self._prepared:
            return
        base = self.base_dir
        home = base / "home"
        for directory in (self.mnesia_base, self.log_base, home, base / "conf.d"):
            directory.mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            "log.console = false\n"
        )
        (base / "rabbitmq-env.conf").write_text("# intentionally empty\n")
        (base / "enabled_plugins").write_text("[].\n")
        cookie = home / ".erlang.cookie"
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)
        if self._user is not None:
            uid, gid = self._user.pw_uid, self._user.pw_gid
            for path in (base, *base.rglob("*")):
                os.chown(path, uid, gid)
        self._prepared = True

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIXES)}
        base = self.base_dir
        env.update(
            {
                _MARKER_VAR: self.name,
                "HOME": str(base / "home"),
                "RABBITMQ_NODENAME": self.name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
                "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
                "RABBITMQ_CONFIG_FILES": str(base / "conf.d"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(self.mnesia_base),
                "RABBITMQ_LOG_BASE": str(self.log_base),
                "RABBITMQ_PID_FILE": str(self.pid_file),
                # What the system rabbitmq-env.conf sets for the shared node.
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            }
        )
        if self._user is not None:
            env["USER"] = env["LOGNAME"] = self._user.pw_name
        return env

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        user = self._user
        return subprocess.run(
            argv,
            env=self._env(),
            cwd=self.base_dir,  # erl_crash.dump lands here
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def _wait_ready(self, timeout: float) -> str | None:
        """Poll until AMQP accepts and ``await_startup`` succeeds; else the reason."""
        launched = time.monotonic()
        deadline = launched + timeout
        detail = f"port {self.port} never opened"
        while time.monotonic() < deadline:
            # `erl -detached` may return before beam.smp is visible in /proc.
            if self._beam_pid() is None and time.monotonic() - launched > 3:
                return f"{self.name} died during boot"
            if _port_open(self.port):
                remaining = max(deadline - time.monotonic(), 1.0)
                try:
                    result = self.ctl(
                        "await_startup", "--timeout", str(math.ceil(remaining)), timeout=remaining
                    )
                except subprocess.TimeoutExpired:
                    break
                if result.returncode == 0:
                    return None
                detail = f"await_startup failed:\n{result.stdout}{result.stderr}"
            time.sleep(0.1)
        return f"{self.name} not ready within {timeout}s: {detail}"

    def _node_pids(self) -> list[int]:
        """PIDs of every live process of this node (VM and its helpers), not epmd."""
        marker = f"{_MARKER_VAR}={self.name}".encode()
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            pid = int(entry.name)
            if marker in environ.split(b"\0") and _proc_comm(pid) != "epmd" and _pid_alive(pid):
                pids.append(pid)
        return pids

    def _beam_pid(self) -> int | None:
        for pid in self._node_pids():
            if _proc_comm(pid).startswith("beam"):
                return pid
        return None

    def _kill_processes(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while pids := self._node_pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise RabbitNodeError(f"could not kill processes {pids} of {self.name}")
            time.sleep(0.05)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_file})"
        return "\n".join(text.splitlines()[-lines:])
