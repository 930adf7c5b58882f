"""The clock is read only at the edge and passed inward as ``now``.

:class:`SimulatedClock` lets the simulator (``CROSSVAULT_CLOCK=simulated``) set or
advance server time so scenarios can cross expiry and designation dates.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """Starts at ``start`` and moves with real time from there, plus any jumps."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the simulated clock takes aware instants only")
        with self._lock:
            self._offset = instant - datetime.now(UTC)

    def advance(self, by: timedelta) -> None:
        if by < timedelta(0):
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._offset += by
