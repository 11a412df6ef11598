"""python-socketio's client manager on eventwire's bus.

``socketio.AsyncServer(client_manager=EventwireManager(url))``, where ``AsyncRedisManager`` or
``AsyncAioPikaManager`` would go; ``EventwireManager(url, write_only=True)`` elsewhere.
"""

from .core import ManagerStats
from .errors import CallBrokerDown, CallFailed, CallTimedOut, SidDisconnected, SidOffline
from .manager import EventwireManager

__all__ = [
    "CallBrokerDown",
    "CallFailed",
    "CallTimedOut",
    "EventwireManager",
    "ManagerStats",
    "SidDisconnected",
    "SidOffline",
]
