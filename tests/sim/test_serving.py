"""The simulator's deployment: its worker processes share one simulated clock (two
``SharedClock`` objects on one file stand for two processes: the offset lives in the
file, nothing in the object), and run their endpoints on the event loop's thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sim.simulation.serving import SharedClock, on_the_loop


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


def test_the_simulators_endpoints_run_on_the_event_loops_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What Starlette hands to a worker thread (a plain ``def`` endpoint) runs on the
    loop's thread once :func:`on_the_loop` stands in for ``anyio.to_thread.run_sync``,
    and gets its arguments and gives its answer (or its exception) as before."""
    import anyio
    import anyio.to_thread
    from starlette.concurrency import run_in_threadpool

    def where(a: int, *, b: int) -> tuple[int, int]:
        return threading.get_ident(), a + b

    async def ask() -> tuple[int, tuple[int, int]]:
        return threading.get_ident(), await run_in_threadpool(where, 1, b=2)

    loop_thread, (ran_on, total) = anyio.run(ask)
    assert ran_on != loop_thread and total == 3  # anyio's own: a worker thread
    monkeypatch.setattr(anyio.to_thread, "run_sync", on_the_loop)
    loop_thread, (ran_on, total) = anyio.run(ask)
    assert ran_on == loop_thread and total == 3

    def fails() -> None:
        raise LookupError("kept")

    with pytest.raises(LookupError, match="kept"):
        anyio.run(run_in_threadpool, fails)
