"""What python-socketio's own managers cannot do, found by running the conformance bodies.

Each entry is (flavor, test name) -> the exception its run fails with, and why. The suite
asserts the failure (``xfail(strict=True, raises=...)``): when a reference gains the
feature, its run passes and the suite fails until the entry is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import socketio


@dataclass(frozen=True)
class Limit:
    raises: type[BaseException]
    why: str


_WRITE_ONLY_CALLBACK = Limit(
    RuntimeError,
    "a write-only manager cannot receive callbacks ('Callbacks can only be issued from the "
    "context of a server'), so a worker can emit but never call",
)
_WRITE_ONLY_DISCONNECT = Limit(
    AttributeError,
    "a write-only manager's disconnect() handles the sid locally first, through the server "
    "it does not have",
)
_NO_SID_WAITS = Limit(
    AssertionError,
    "a call to a sid no server holds waits out its whole timeout and raises a bare "
    "TimeoutError: the fanout cannot tell that nobody received it",
)
_LEFT_MID_CALL_WAITS = Limit(
    AssertionError,
    "a call whose client disconnects before answering waits out its whole timeout "
    "(documented: 'If the Socket.IO connection drops during the wait, this method still "
    "waits until the specified timeout')",
)
_NO_LISTENER_YET = Limit(
    socketio.exceptions.TimeoutError,
    "a server listens only from its first client's connection on (initialize() starts the "
    "listener), so until then the answers to its own calls never reach it",
)
_FANOUT = Limit(
    AssertionError,
    "every emit goes to every server (one fanout exchange / one Redis channel), which "
    "decodes it whether or not it holds a member of the room",
)

KNOWN_LIMITS: dict[tuple[str, str], Limit] = {
    (flavor, test): limit
    for flavor in ("aiopika", "redis")
    for test, limit in {
        "test_callback_from_write_only_process": _WRITE_ONLY_CALLBACK,
        "test_disconnect_from_write_only_process": _WRITE_ONLY_DISCONNECT,
        "test_call_to_sid_on_no_server_fails_at_once": _NO_SID_WAITS,
        "test_call_fails_when_client_leaves_mid_call": _LEFT_MID_CALL_WAITS,
        "test_call_from_a_server_without_clients": _NO_LISTENER_YET,
        "test_emit_reaches_only_servers_holding_members": _FANOUT,
    }.items()
}
