"""The edge process's garbage collector, set for a heap of many long-lived connections.

Every connection holds about two hundred objects the collector tracks (its tasks' coroutines,
queues, the websocket's reader and writer), so 5,000 tabs are a million. CPython's defaults
(a young collection every 700 allocations, an old one whenever the old generation grew by a
quarter) then make a reconnect storm, which fills that heap at once, pay for a full scan of it
over and over: measured on the bench's two cores, 5,000 reconnecting tabs cost their edge 10 s
of collections (full scans of 0.7 to 1.2 s each) in a 16 s storm, and a full scan is a pause
for every connection's events.

So once the edge is up: what it built while starting (modules, the app, its caches; about
80,000 objects) is frozen out of every later scan, and young collections run every
``YOUNG_THRESHOLD`` allocations, which makes old ones, whose cost grows with the heap, that
much rarer (1 in that storm instead of 14). Cyclic garbage waits a little longer to be freed;
everything else is freed by reference counting as before. Only the edge's own process does
this (``serve_forever``): a library must not change its host's collector.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # CPython's default is 700


def settle() -> None:
    """Freeze what startup built and space the collections out (see the module's text)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
