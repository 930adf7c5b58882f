"""Scenario switches (no server): ``what_if`` timeline entries change the policy a run
uses, each changing only the rules it states; ``extends`` builds a scenario on another;
the shipped ``open-to-all-2024`` scenario plans no pilot-time refusals."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from policies.policy_file import default_policy_path, load_policy
from sim.simulation.events import Apply
from sim.simulation.population import build_population
from sim.simulation.scenario import SCENARIO_DIR, ScenarioError, load_scenario
from sim.simulation.timeline import plan
from sim.simulation.what_if import derived_policy

POLICY_PATH = default_policy_path()
POLICY = load_policy(POLICY_PATH)
OPEN_2024 = SCENARIO_DIR / "open-to-all-2024.toml"


def test_an_entry_changes_only_the_rules_it_states(tmp_path: Path) -> None:
    scenario = load_scenario(OPEN_2024, POLICY)
    path, policy = derived_policy(scenario.path, POLICY_PATH, scenario.what_if, tmp_path)
    assert path.parent == tmp_path
    assert policy.rules_on(date(2024, 7, 15)).cross_border_min_age == 0
    assert policy.rules_on(date(2024, 7, 15)).cross_border_processing.total_seconds() == 0
    # the policy's own 2025-12-01 entry states only the deposit rule: the age stays 0
    assert policy.rules_on(date(2025, 12, 1)).cross_border_min_age == 0
    assert policy.rules_on(date(2025, 12, 1)).deposit_requires_sharing_consent is False
    assert policy.rules_on(date(2024, 7, 15)).deposit_requires_sharing_consent is True
    assert POLICY.rules_on(date(2024, 7, 15)).cross_border_min_age == 65  # untouched
    assert policy.institutions == POLICY.institutions


def test_the_open_to_all_scenario_plans_no_pilot_time_refusal() -> None:
    scenario = load_scenario(OPEN_2024, POLICY)
    assert scenario.name == "open-to-all-2024" and scenario.start == date(2024, 7, 15)
    assert scenario.programmes.voucher is not None and scenario.programmes.voucher.enabled
    _, policy = derived_policy(scenario.path, POLICY_PATH, scenario.what_if, Path("/tmp"))
    rng = random.Random(1)
    population = build_population(scenario, policy, rng, 0.003)
    planned = plan(scenario, population, policy, rng, 0.003)
    applications = [e for d in planned.days for e in d.events if isinstance(e, Apply)]
    assert applications and not [a for a in applications if a.expected == "not_eligible"]
    early = [d.day for d in planned.days for e in d.events if isinstance(e, Apply)]
    assert min(early) < date(2024, 9, 1)  # people of any age apply from July 2024


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "what-if.toml"
    path.write_text(f'extends = "{SCENARIO_DIR / "default.toml"}"\n{text}')
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[what_if.timeline]]\nstarts_on = 2024-07-15\nnote = 'nothing'\n",
            "what_if.timeline[0]: changes no rule (any of: cross_border_min_age, ",
        ),
        (
            "[[what_if.timeline]]\nstarts_on = 2024-07-15\nnote = 'x'\ncross_border_min_age = -1\n",
            "what_if.timeline[0].cross_border_min_age: must not be negative",
        ),
        (
            "[[what_if.timeline]]\nstarts_on = 2024-07-15\nnote = 'x'\nlookback_years = 5\n",
            "what_if.timeline[0].lookback_years: unknown key",
        ),
        (
            "[[what_if.timeline]]\nstarts_on = 2024-07-15\nnote = 'x'\n"
            "deposit_requires_sharing_consent = 'no'\n",
            "what_if.timeline[0].deposit_requires_sharing_consent: expected true or false",
        ),
        ("what_if = 3\n", "what_if: expected a table, got 3"),
        ("extends = 3\n", "extends: expected a file name, got 3"),
    ],
)
def test_a_bad_what_if_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = scenario_file(tmp_path, text)
    if text.startswith("extends"):
        path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, POLICY)
    assert str(caught.value).startswith(f"{path}: {expected}"), caught.value


def test_a_scenario_that_extends_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.toml"
    path.write_text('extends = "loop.toml"\n')
    with pytest.raises(ScenarioError, match="extends: cycle"):
        load_scenario(path, POLICY)


def test_a_timeline_the_policy_refuses_names_the_scenario(tmp_path: Path) -> None:
    """An entry before the policy's first sets only some rules: the first entry must set
    them all, so the derived policy is refused, naming the scenario's what_if."""
    path = scenario_file(
        tmp_path,
        "[[what_if.timeline]]\nstarts_on = 2020-01-01\nnote = 'x'\ncross_border_min_age = 0\n",
    )
    scenario = load_scenario(path, POLICY)
    with pytest.raises(ScenarioError) as caught:
        derived_policy(scenario.path, POLICY_PATH, scenario.what_if, tmp_path)
    assert str(caught.value).startswith(f"{path}: what_if.timeline: "), caught.value
