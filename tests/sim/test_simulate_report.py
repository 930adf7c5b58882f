"""The report's pieces without a server: a partial summary with nothing done still makes
valid PNGs (and no warnings), percentiles, scaled counts, the plan's determinism, and
what a variant changes for people, on summaries made by hand (through a real tally)."""

from __future__ import annotations

import io
import json
import random
import threading
from datetime import date
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
    runs = {"1-baseline": summary, "2-default": summary}
    valid_png(plots.comparison(runs, tmp_path / "comparison.png"))
    valid_png(plots.for_people(runs, tmp_path / "for_people.png"))
    valid_png(plots.calibration(summary, tmp_path / "calibration.png"))
    out = io.StringIO()
    report.print_summary(Console(file=out, width=120), summary)
    report.print_comparison(Console(file=out, width=120), runs)
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


# --- what changes for people -----------------------------------------------------------------


def summary_of(
    name: str,
    visible: dict[int, int],
    denied: dict[str, list[int]],
    *,
    complete: bool = True,
) -> dict[str, Any]:
    """A summary under policy ``name`` whose cross-border viewers were listed
    ``visible[person]`` records of each person (twice, as two sessions would) and opened
    one of each, and whose access logs hold a denial for each (reason, person) in
    ``denied``."""
    tally = Tally()
    day = date(2026, 1, 5)
    for person, n in visible.items():
        records = [f"record-{person}-{k}" for k in range(n)]
        tally.listed(person, records)
        tally.listed(person, records[: n // 2])
        tally.on(day, "cross_border_views")
    for reason, people in denied.items():
        for person in people:
            tally.audited(person, "mainland_professional", False, reason)
    tally.audit_collected = complete
    summary = empty_summary(complete)
    summary["policy"] = {"name": name, "path": f"{name}.toml", "lookback_years": 3}
    summary["counts"] = {"population": {"people": 9}, "planned": {}, **tally.counts()}
    return summary


BASELINE = summary_of("default", {0: 2, 1: 3, 4: 1}, {"outside_lookback": [0, 1, 1]})
LONGER = summary_of("five-year-lookback", {0: 4, 1: 3, 2: 1, 4: 2}, {"outside_lookback": [1]})
SHORTER = summary_of("one-year", {0: 1, 1: 3}, {"outside_lookback": [0, 1, 2, 4]})


def test_a_longer_lookback_shows_more_records_of_more_people_never_fewer() -> None:
    people = report.for_people(BASELINE["counts"], LONGER["counts"])
    assert people["records_visible"] == {"baseline": 6, "variant": 10, "delta": 4}
    assert people["people_with_records_visible"] == {"baseline": 3, "variant": 4, "delta": 1}
    assert people["people_with_more_records_visible"] == 3  # people 0, 2 and 4
    assert people["people_with_fewer_records_visible"] == 0
    assert people["cross_border_record_views"] == {"baseline": 3, "variant": 4, "delta": 1}
    outside = people["denials_by_reason"]["outside_lookback"]
    assert outside["decisions"] == {"baseline": 3, "variant": 1, "delta": -2}
    assert outside["people"] == {"baseline": 2, "variant": 1, "delta": -1}
    assert people["same_people"] is True


def test_a_shorter_lookback_shows_fewer_and_the_figures_agree() -> None:
    """The per-person counts agree with the run's own figures: the distinct records
    visible and their delta, the views."""
    comparison = report.comparison({"1-baseline": BASELINE, "2-one-year": SHORTER})
    (against,) = comparison["variants"]
    people = against["for_people"]
    assert people["people_with_fewer_records_visible"] == 2  # people 0 and 4
    assert people["people_with_more_records_visible"] == 0
    figures = against["figures"]
    assert people["records_visible"] == figures["distinct records visible cross-border"]
    assert people["records_visible"]["delta"] == -2
    assert (
        people["people_with_records_visible"]
        == (figures["people with records visible cross-border"])
    )
    assert people["cross_border_record_views"] == figures["cross-border record views"]
    assert (
        people["denials_by_reason"]["outside_lookback"]["decisions"]
        == (against["denials_by_reason"]["outside_lookback"])
    )


def test_people_denied_are_unknown_when_the_access_logs_were_not_read_back() -> None:
    partial = summary_of("five-year-lookback", {0: 4}, {}, complete=False)
    people = report.for_people(BASELINE["counts"], partial["counts"])
    assert people["denials_by_reason"]["outside_lookback"]["people"] is None
    other_people = dict(partial["counts"], population={"people": 10})
    assert report.for_people(BASELINE["counts"], other_people)["same_people"] is False


def test_the_comparison_file_has_every_variant_against_the_baseline(tmp_path: Path) -> None:
    runs = {"1-baseline": BASELINE, "2-five-year-lookback": LONGER, "3-one-year": SHORTER}
    written = json.loads(report.write_comparison(tmp_path, runs).read_text())
    assert written["format"] == report.COMPARISON_FORMAT and written["complete"] is True
    assert written["baseline"] == {
        "policy": BASELINE["policy"],
        "summary": "1-baseline/summary.json",
    }
    assert [v["summary"] for v in written["variants"]] == [
        "2-five-year-lookback/summary.json",
        "3-one-year/summary.json",
    ]
    assert [v["for_people"]["records_visible"]["delta"] for v in written["variants"]] == [4, -2]


def test_runs_of_one_policy_name_are_told_apart() -> None:
    runs = {"1-baseline": BASELINE, "2-default": BASELINE, "3-one-year": SHORTER}
    assert report.run_names(runs) == ["default (1)", "default (2)", "one-year"]


def test_the_people_table_keeps_reason_codes_whole_in_80_columns() -> None:
    long_reason = "cross_border_authorisation_not_yet_processed"
    baseline = summary_of("default", {0: 2}, {long_reason: [0, 1], "wrong_otp": [0]})
    variant = summary_of("five-year-lookback", {0: 3}, {long_reason: [0], "wrong_otp": [0]})
    out = io.StringIO()
    report.print_comparison(Console(file=out, width=80), {"1-baseline": baseline, "2-x": variant})
    text = out.getvalue()
    assert "…" not in text
    assert "What five-year-lookback changes for people" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    unfolded = "".join(line.strip("│ ") for line in text.splitlines())
    assert long_reason in unfolded.replace("│", "").replace(" ", "")
    people_table = text[text.index("What five-year-lookback changes for people") :]
    assert "2 / 2" in people_table and "1 / 1" in people_table  # decisions / people
    assert "wrong_otp" in text and "wrong_otp" not in people_table  # (unchanged)


def test_plots_of_several_variants_are_valid(tmp_path: Path) -> None:
    runs = {"1-baseline": BASELINE, "2-five-year-lookback": LONGER, "3-one-year": SHORTER}
    width, height = valid_png(plots.for_people(runs, tmp_path / "for_people.png"))
    assert width > 800 and height > 500
    valid_png(plots.comparison(runs, tmp_path / "comparison.png"))


def test_the_tally_counts_per_person_the_same_whatever_the_threads() -> None:
    """Listings and access-log entries arriving from many threads in any order give the
    same counts."""

    def counted(order: int) -> dict[str, Any]:
        tally = Tally()
        work = [(p, [f"r{p}-{k}" for k in range(p % 4)]) for p in range(40)] * 3
        random.Random(order).shuffle(work)

        def lane(chunk: list[tuple[int, list[str]]]) -> None:
            for person, records in chunk:
                tally.listed(person, records)

        threads = [threading.Thread(target=lane, args=(work[n::4],)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for person in random.Random(order).sample(range(40), 40):
            tally.audited(person, "citizen", person % 3 == 0, "not_eligible")
        tally.audit_collected = True
        return tally.counts()

    first = counted(1)
    assert first == counted(2)
    assert first["cross_border"]["distinct_records_visible"] == sum(
        first["records_visible_by_person"].values()
    )
    assert first["people_denied_by_reason"] == {"not_eligible": 26}
