"""eventwire: Open WebUI's plugin events across processes, routed by RabbitMQ."""

from .auth import Identity, mint_token, verify_token
from .client import (
    Eventwire,
    close,
    connect,
    default_client,
    get_event_call,
    get_event_emitter,
)
from .errors import (
    AuthenticationError,
    BrokerUnavailable,
    CallCancelled,
    CallError,
    CallTimeout,
    ClientDisconnected,
    ClientError,
    EventValidationError,
    EventwireError,
    InvalidArgument,
    OutboxFull,
    PayloadTooLarge,
    PermissionDenied,
    ProtocolError,
    RateLimited,
    SessionOffline,
)
from .settings import Settings, get_settings

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BrokerUnavailable",
    "CallCancelled",
    "CallError",
    "CallTimeout",
    "ClientDisconnected",
    "ClientError",
    "EventValidationError",
    "Eventwire",
    "EventwireError",
    "Identity",
    "InvalidArgument",
    "OutboxFull",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProtocolError",
    "RateLimited",
    "SessionOffline",
    "Settings",
    "close",
    "connect",
    "default_client",
    "get_event_call",
    "get_event_emitter",
    "get_settings",
    "mint_token",
    "verify_token",
]
