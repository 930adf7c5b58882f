"""Simulation benchmark: simulated events per second of ``crossvault simulate`` at
``--scale 0.1`` (times the bench's ``--scale``), the default scenario and seed, every
event over real HTTP against the simulator's own server (:mod:`sim.simulation.serving`).

There is no side-by-side baseline for a whole simulation; the target is the issue's:
the run's events within two minutes (``events / 120 s``). ``crossvault bench --only
simulation`` runs this suite alone; it takes the run's time (minutes on a busy machine).
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from policies.policy_file import default_policy_path
from sim.benchmarks import Measurement
from sim.simulation.inputs import Options
from sim.simulation.run import EXIT_OK, main
from sim.simulation.scenario import default_scenario_path

SCALE = 0.1
TARGET_SECONDS = 120.0


def run(scale: float) -> list[Measurement]:
    size = round(SCALE * scale, 4)
    with tempfile.TemporaryDirectory(prefix="crossvault-bench-simulation-") as out:
        options = Options(
            scenario=default_scenario_path(),
            policy=default_policy_path(),
            seed=1,
            scale=size,
            out=Path(out),
        )
        quiet = Console(file=io.StringIO())
        code = main(options, quiet, quiet)
        summary = _summary(Path(out)) if code == EXIT_OK else None
    if summary is None:
        return [Measurement("simulation", "simulate run", 0, "exit code", note=f"exit {code}")]
    events = int(summary["events"]["planned"])
    return [
        Measurement(
            "simulation",
            f"simulated events/s at --scale {size}",
            float(summary["events_per_second"]),
            "events/s",
            target_value=round(events / TARGET_SECONDS, 1),
            note=f"{events:,} events; run {summary['wall_seconds']} s in all",
        )
    ]


def _summary(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return loaded
