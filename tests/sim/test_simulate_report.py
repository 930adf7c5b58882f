"""The report's pieces without a server: a partial summary with nothing done still makes
valid PNGs (and no warnings), percentiles, scaled counts, and the plan's determinism."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from policies.policy_file import default_policy_path, load_policy
from sim.simulation import plots, report
from sim.simulation.population import build_population
from sim.simulation.scenario import Scenario, default_scenario_path, load_scenario
from sim.simulation.tally import Tally, percentile
from sim.simulation.timeline import Plan, plan
from tests.sim.test_simulate import valid_png


def empty_summary(complete: bool) -> dict[str, Any]:
    return {
        "format": report.FORMAT,
        "complete": complete,
        "stopped_by": None if complete else "interrupt",
        "scenario": {"name": "default", "path": "x", "start": "2024-07-15", "end": "2026-02-28"},
        "policy": {"name": "default", "path": "y", "lookback_years": 3},
        "seed": 1,
        "scale": 0.01,
        "server": "embedded",
        "events": {"planned": 10, "done": 0, "plan_events": 9},
        "counts": {"population": {}, "planned": {}, **Tally().counts()},
        "latency_ms": {},
        "wall_seconds": 0.1,
    }


@pytest.mark.parametrize("complete", [True, False])
def test_plots_and_tables_of_a_run_that_did_nothing(tmp_path: Path, complete: bool) -> None:
    summary = empty_summary(complete)
    valid_png(plots.activity(summary, tmp_path / "activity.png"))
    valid_png(plots.denials(summary, tmp_path / "denials.png"))
    valid_png(plots.comparison(summary, summary, tmp_path / "comparison.png"))
    valid_png(plots.calibration(summary, tmp_path / "calibration.png"))
    out = io.StringIO()
    report.print_summary(Console(file=out, width=120), summary)
    report.print_comparison(Console(file=out, width=120), summary, summary)
    assert ("(partial)" in out.getvalue()) is not complete
    assert "not read back" in out.getvalue()  # never a 0 for what was not counted
    assert report.write_summary(tmp_path, summary).read_text().startswith("{")


def test_denial_reasons_stay_whole_in_80_columns() -> None:
    summary = empty_summary(True)
    reasons = {"cross_border_not_permitted_not_eligible": 3, "cross_border_not_permitted_x": 2}
    summary["counts"]["audit"] = {"mainland_professional": {"denied": reasons}}
    out = io.StringIO()
    report.print_summary(Console(file=out, width=80), summary)
    text = out.getvalue()
    assert "…" not in text  # folded onto a second line, never cut
    assert "permitted_not_eli" in text and "permitted_x " in text  # distinguishable
    assert "Answers (the overview) count every HTTP answer" in text


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile(values, 100) == 100 and percentile([7.0], 95) == 7
    assert percentile([], 50) == 0


def test_scaled_counts_round_and_never_vanish() -> None:
    assert Scenario.scaled(14000, 0.01) == 140
    assert Scenario.scaled(2000, 0.0001) == 1
    assert Scenario.scaled(0, 1) == 0


def _plan(seed: int, scale: float) -> Plan:
    policy = load_policy(default_policy_path())
    scenario = load_scenario(default_scenario_path(), policy)
    rng = random.Random(seed)
    population = build_population(scenario, policy, rng, scale)
    return plan(scenario, population, policy, rng, scale)


def test_the_plan_follows_the_seed_and_the_published_figures() -> None:
    first, again, other = _plan(5, 0.01), _plan(5, 0.01), _plan(6, 0.01)
    assert first == again and first != other
    assert first.planned["setup.Register"] == 140 + 40  # users and other people
    assert first.planned["UploadToFolder"] == 250  # 25,000 at scale 0.01
    assert first.planned["AuthoriseRadiology"] == 20  # 2,000 in three weeks
    radiology = [
        d.day for d in first.days for e in d.events if type(e).__name__ == "AuthoriseRadiology"
    ]
    assert min(radiology).isoformat() >= "2026-01-27" and max(radiology).isoformat() <= "2026-02-16"
