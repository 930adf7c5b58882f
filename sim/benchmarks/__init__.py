"""Benchmarks: every figure is measured side by side with its baseline *in the same run*
and reported as a ratio, so a slower or faster machine does not change the verdict.

Each capability adds a module here exposing ``run(scale: float) -> list[Measurement]``
and registers it in :data:`SUITES`. ``crossvault bench`` runs them all and prints one report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """One benchmark figure. ``ratio`` is subject/baseline where a baseline exists."""

    suite: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target_ratio: float | None = None  # e.g. 0.8 means "at least 0.8x the baseline"
    target_value: float | None = None  # e.g. 200_000 decisions/s
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def meets_target(self) -> bool | None:
        if self.target_ratio is not None and self.ratio is not None:
            return self.ratio >= self.target_ratio
        if self.target_value is not None:
            return self.value >= self.target_value
        return None


Suite = Callable[[float], list[Measurement]]
SUITES: dict[str, str] = {
    # name -> "module:function"; imported lazily so one broken suite does not hide others
    "crypto": "sim.benchmarks.crypto:run",
    "policies": "sim.benchmarks.policies:run",
    "api": "sim.benchmarks.api:run",
    "radiology": "sim.benchmarks.radiology:run",
    "scale": "sim.benchmarks.scale:run",
    "simulation": "sim.benchmarks.simulation:run",  # minutes: one `simulate --scale 0.1`
}
# Suites run only when named (``--only volume``): they seed a million records or more.
OPT_IN: dict[str, str] = {"volume": "sim.benchmarks.volume:run"}
