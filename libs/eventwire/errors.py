"""One exception root and the named failures a caller can catch.

Every error has a stable ``code``: it travels on the wire (call replies, connect errors,
error events) and maps back to the same class on the other side.
"""

from __future__ import annotations

from typing import ClassVar


class EventwireError(Exception):
    """Root of every error eventwire raises on purpose."""

    code: ClassVar[str] = "eventwire_error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigurationError(EventwireError):
    """The configuration is invalid."""

    code = "configuration_error"


class EventValidationError(EventwireError, ValueError):
    """An event's payload does not match its type."""

    code = "invalid_event"


class InvalidArgument(EventwireError, ValueError):
    """An SDK call got an argument of the wrong type or out of range (the message names it)."""

    code = "invalid_argument"


class PayloadTooLarge(EventwireError, ValueError):
    """A payload is larger than the configured limit."""

    code = "payload_too_large"


class ProtocolError(EventwireError):
    """A message on the bus could not be decoded."""

    code = "protocol_error"


class AuthenticationError(EventwireError):
    """A token is missing, malformed, forged or expired."""

    code = "invalid_token"


class PermissionDenied(EventwireError):
    """The identity may not act on that target."""

    code = "forbidden"


class NotFound(EventwireError):
    """The named thing (a task, a plugin) does not exist here."""

    code = "not_found"


class UnknownEvent(EventwireError):
    """A client sent an event this server has no handler for."""

    code = "unknown_event"


class PluginError(EventwireError):
    """A plugin could not be loaded or run."""

    code = "plugin_error"


class BrokerUnavailable(EventwireError):
    """The message broker cannot be reached."""

    code = "broker_unavailable"


class OutboxFull(EventwireError):
    """The broker is down and the bounded outbox of pending emits is full."""

    code = "outbox_full"


class Unroutable(EventwireError):
    """No queue is bound to the routing key of a mandatory publish."""

    code = "unroutable"


class RateLimited(EventwireError):
    """A client sent more events than its connection may."""

    code = "rate_limited"


class CallError(EventwireError):
    """An ``__event_call__`` did not produce a value."""

    code = "call_error"


class CallTimeout(CallError, TimeoutError):
    """The client did not answer within the timeout."""

    code = "timeout"


class SessionOffline(CallError):
    """No edge node holds the target session."""

    code = "session_offline"


class ClientDisconnected(CallError):
    """The client disconnected before answering."""

    code = "client_disconnected"


class ClientError(CallError):
    """The client answered with an error."""

    code = "client_error"


class CallCancelled(CallError):
    """The caller gave up on the call."""

    code = "cancelled"


# -- raised by workers running plugins; a run's error event carries the code ----------------


class PluginNotLoaded(PluginError):
    """The plugin's file is there but did not load; the message says why."""

    code = "plugin_not_loaded"


class InvalidToolArguments(PluginError):
    """A tool call's arguments are not the tool method's declared parameters."""

    code = "invalid_arguments"


_BY_CODE: dict[str, type[EventwireError]] = {
    cls.code: cls
    for cls in (
        EventwireError,
        ConfigurationError,
        EventValidationError,
        InvalidArgument,
        PayloadTooLarge,
        ProtocolError,
        AuthenticationError,
        PermissionDenied,
        NotFound,
        UnknownEvent,
        PluginError,
        BrokerUnavailable,
        OutboxFull,
        Unroutable,
        RateLimited,
        CallError,
        CallTimeout,
        SessionOffline,
        ClientDisconnected,
        ClientError,
        CallCancelled,
        PluginNotLoaded,
        InvalidToolArguments,
    )
}


def error_from_code(code: str, message: str = "") -> EventwireError:
    """Rebuild the named error a remote side reported (unknown codes become ``CallError``)."""
    return _BY_CODE.get(code, CallError)(message)


# The HTTP status each code answers with (the edge's API, and anything else speaking HTTP).
# Codes missing here are server-side failures: 500.
HTTP_STATUS: dict[str, int] = {
    ConfigurationError.code: 500,
    EventValidationError.code: 422,
    InvalidArgument.code: 422,
    PayloadTooLarge.code: 413,
    AuthenticationError.code: 401,
    PermissionDenied.code: 403,
    NotFound.code: 404,
    UnknownEvent.code: 404,
    RateLimited.code: 429,
    BrokerUnavailable.code: 503,
    OutboxFull.code: 503,
    Unroutable.code: 404,
    CallTimeout.code: 504,
    PluginError.code: 502,
    PluginNotLoaded.code: 502,
    InvalidToolArguments.code: 422,
}


def http_status(code: str) -> int:
    """The HTTP status for an error code (``HTTP_STATUS``), 500 for any other."""
    return HTTP_STATUS.get(code, 500)
