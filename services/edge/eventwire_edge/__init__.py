"""The edge node: holds Socket.IO connections, receives only the events routed to them."""

from .node import EdgeNode
from .server import EdgeServer, create_app

__all__ = ["EdgeNode", "EdgeServer", "create_app"]
