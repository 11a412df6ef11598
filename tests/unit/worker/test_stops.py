from __future__ import annotations

from eventwire_worker.stops import QueuedStops


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_stop_cancels_only_its_owners_job_once() -> None:
    stops = QueuedStops(ttl=10)
    stops.add("t1", "alice", "user")
    assert stops.take("t1", owner="alice") is True
    assert stops.take("t1", owner="alice") is None  # taken: forgotten


def test_others_stops_do_not_crowd_out_the_owners() -> None:
    stops = QueuedStops(ttl=10)
    stops.add("t1", "alice", "user")
    stops.add("t1", "mallory", "user")
    assert stops.take("t1", owner="alice") is True
    stops.add("t2", "mallory", "user")
    assert stops.take("t2", owner="alice") is False
    stops.add("t3", "root", "admin")
    assert stops.take("t3", owner="alice") is True


def test_stops_are_bounded_in_time_and_count() -> None:
    clock = Clock()
    stops = QueuedStops(ttl=10, limit=3, clock=clock)
    for task in ("a", "b", "c", "d"):
        stops.add(task, "alice", "user")
    assert len(stops) == 3
    assert stops.take("a", owner="alice") is None  # the oldest went first
    clock.now = 11
    assert stops.take("b", owner="alice") is None  # expired
    stops.add("e", "alice", "user")  # adding forgets what expired
    assert len(stops) == 1
