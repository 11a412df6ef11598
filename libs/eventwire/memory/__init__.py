"""The in-process backend: a bus and a job queue with the broker's semantics, no broker."""

from .bus import MemoryBus
from .jobs import MemoryJobQueue

__all__ = ["MemoryBus", "MemoryJobQueue"]
