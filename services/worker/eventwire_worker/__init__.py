"""The pipeline worker: runs Open WebUI Tools, Functions and Pipes from a durable job queue."""

from .plugins import Plugin, Registry, load_plugins
from .worker import Worker

__all__ = ["Plugin", "Registry", "Worker", "load_plugins"]
