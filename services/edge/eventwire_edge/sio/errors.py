"""Why a ``call()`` or an ``emit(..., callback=)`` gets no answer, as python-socketio errors.

python-socketio's ``call()`` raises ``socketio.exceptions.TimeoutError`` when no answer
comes, and code written for it catches that. This manager knows sooner (the sid is on no
server, it left mid-call, the broker is down), so each failure is both that exception and
eventwire's named error: handlers written for python-socketio keep working, new code can
tell the cases apart.
"""

from __future__ import annotations

import socketio

from eventwire import errors


class CallFailed(socketio.exceptions.TimeoutError):  # type: ignore[misc]  # untyped library
    """A ``call()`` or callback that will get no answer."""


class SidOffline(errors.SessionOffline, CallFailed):
    """No server holds the target sid: raised at once, before any timeout."""


class SidDisconnected(errors.ClientDisconnected, CallFailed):
    """The target left before answering: raised as soon as its server sees it go."""


class CallTimedOut(errors.CallTimeout, CallFailed):
    """The client did not answer within the timeout."""


class CallBrokerDown(errors.BrokerUnavailable, CallFailed):
    """The broker is unreachable, or the connection dropped while waiting for the answer."""


_BY_CODE: dict[str, type[CallFailed]] = {
    errors.SessionOffline.code: SidOffline,
    errors.ClientDisconnected.code: SidDisconnected,
    errors.CallTimeout.code: CallTimedOut,
    errors.BrokerUnavailable.code: CallBrokerDown,
}


def call_error(code: str | None, message: str) -> Exception:
    """The exception for an error a remote server reported in a ``CallReply``."""
    cls = _BY_CODE.get(code or "")
    return cls(message) if cls is not None else errors.error_from_code(code or "", message)
