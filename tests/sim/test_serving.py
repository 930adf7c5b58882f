"""The simulator's deployment: its worker processes share one simulated clock (two
``SharedClock`` objects on one file stand for two processes: the offset lives in the
file, nothing in the object)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sim.simulation.serving import SharedClock


def test_a_clock_set_by_one_worker_is_every_workers_time(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    first, second = SharedClock(path), SharedClock(path)
    assert abs(first.now() - datetime.now(UTC)) < timedelta(seconds=5)  # starts at real time
    first.set(datetime(2025, 11, 10, 4, 0, tzinfo=UTC))
    assert abs(second.now() - datetime(2025, 11, 10, 4, 0, tzinfo=UTC)) < timedelta(seconds=5)
    second.advance(timedelta(days=3))
    assert abs(first.now() - datetime(2025, 11, 13, 4, 0, tzinfo=UTC)) < timedelta(seconds=5)
    third = SharedClock(path)  # a worker started later keeps the time, not real time
    assert abs(third.now() - first.now()) < timedelta(seconds=5)


def test_the_shared_clock_refuses_what_the_simulated_clock_refuses(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock")
    with pytest.raises(ValueError, match="aware"):
        clock.set(datetime(2025, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))
