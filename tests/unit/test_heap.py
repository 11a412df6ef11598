"""The edge process's collector settings (eventwire_edge.heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from eventwire_edge import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_freezes_what_startup_built_and_spaces_young_collections(
    restored_gc: None,
) -> None:
    built_at_startup = [object() for _ in range(10)] + [[n] for n in range(10)]
    _, middle, old = gc.get_threshold()
    heap.settle()
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() >= len(gc.get_referents(built_at_startup))
    assert gc.get_count()[0] < heap.YOUNG_THRESHOLD
