"""The programmes around the vault, as planned (no server): the voucher GBA pilot's and
the HA GBA patient pilot's quotas, their service points and dates from the registry,
what they bring to the vault, and their switch."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from policies.policy_file import default_policy_path, load_policy
from sim.simulation.calibration import calibration
from sim.simulation.events import Apply, UploadToFolder
from sim.simulation.ledger import Claim, Ledger, PilotVisit
from sim.simulation.population import build_population
from sim.simulation.scenario import Scenario, default_scenario_path, load_scenario
from sim.simulation.timeline import Plan, plan

SCALE = 0.01
POLICY = load_policy(default_policy_path())
SCENARIO = load_scenario(default_scenario_path(), POLICY)


def planned(scenario: Scenario = SCENARIO, seed: int = 1) -> Plan:
    rng = random.Random(seed)
    population = build_population(scenario, POLICY, rng, SCALE)
    return plan(scenario, population, POLICY, rng, SCALE)


@pytest.fixture(scope="module")
def default_plan() -> Plan:
    return planned()


def claims(p: Plan) -> list[Claim]:
    return [e for e in p.ledger if isinstance(e, Claim)]


def pilot_visits(p: Plan) -> list[PilotVisit]:
    return [e for e in p.ledger if isinstance(e, PilotVisit)]


def test_every_claim_is_at_a_service_point_open_that_day(default_plan: Plan) -> None:
    voucher = SCENARIO.programmes.voucher
    assert voucher is not None
    made = claims(default_plan)
    assert made and all(c.day >= voucher.start for c in made)
    for claim in made:
        assert POLICY.institutions[claim.institution_id].takes_vouchers(claim.day), claim
    # the twelve of August 2025 appear only from then on
    later = {c.institution_id for c in made if c.day >= date(2025, 8, 1)}
    earlier = {c.institution_id for c in made if c.day < date(2025, 8, 1)}
    assert len(later) == 20 and len(earlier) == 8


def test_the_voucher_quotas_hold_as_of_the_published_date(default_plan: Plan) -> None:
    ledger = Ledger()
    ledger.file(default_plan.ledger)
    summary = ledger.summary(date(2026, 1, 31), date(2026, 1, 31))
    voucher, pilot = summary["voucher"], summary["ha_pilot"]
    assert voucher["users"] == Scenario.scaled(32200, SCALE)
    assert voucher["transactions"] == Scenario.scaled(74956, SCALE)
    assert voucher["services"]["chronic_follow_up"] == round(750 * 0.53)
    assert voucher["services"]["preventive"] == round(750 * 0.23)
    assert voucher["after_as_of"]["transactions"] > 0  # February goes on at the same rate
    assert voucher["users_in_population"] == Scenario.scaled(6000, SCALE)
    assert pilot["patients"] == 59 and pilot["visits"] == 250
    assert all(
        v.institution_id == "hku_sz" and v.day >= date(2023, 5, 10)
        for v in pilot_visits(default_plan)
    )


def test_the_amount_claimed_is_calibrated_within_what_the_sample_allows(
    default_plan: Plan,
) -> None:
    """750 claims of a spread of about 0.65 (log-normal and service mix): the total is
    within four standard errors (4 x 0.65 / sqrt(750), 9.5%) of the published mean."""
    counted = [c for c in claims(default_plan) if c.day <= date(2026, 1, 31)]
    expected = Scenario.scaled(79_560_000, SCALE)
    assert abs(sum(c.amount_hkd for c in counted) / expected - 1) < 4 * 0.65 / len(counted) ** 0.5


def test_voucher_users_of_the_population_are_elderly_and_make_the_pilot_time_applications(
    default_plan: Plan,
) -> None:
    rng = random.Random(1)
    population = build_population(SCENARIO, POLICY, rng, SCALE)
    users = {int(c.user[1:]) for c in claims(default_plan) if c.user.startswith("p")}
    assert users and all(population.people[i].age_on(date(2024, 6, 1)) >= 65 for i in users)
    visits = {(c.day, c.user, c.institution_id) for c in claims(default_plan)}
    pilot_days = [d.day for d in default_plan.days if POLICY.rules_on(d.day).cross_border_min_age]
    on_a_voucher_visit = [
        e
        for d in default_plan.days
        if d.day in pilot_days
        for e in d.events
        if isinstance(e, Apply) and (d.day, f"p{e.person}", e.institution_id) in visits
    ]
    assert len(on_a_voucher_visit) >= 10


def test_folder_records_come_from_programme_visits_too(default_plan: Plan) -> None:
    visits = {(v.day, v.patient) for v in pilot_visits(default_plan)}
    from_the_pilot = [
        e
        for d in default_plan.days
        for e in d.events
        if isinstance(e, UploadToFolder)
        and e.source == "hku_sz"
        and (d.day, f"p{e.person}") in visits
    ]
    assert from_the_pilot
    follow_ups = default_plan.planned["ProviderView.ha_pilot"]
    assert follow_ups > 0


def scenario_switched_off(tmp_path: Path) -> Scenario:
    text = default_scenario_path().read_text().replace("enabled = true", "enabled = false")
    path = tmp_path / "off.toml"
    path.write_text(text)
    return load_scenario(path, POLICY)


def test_a_switched_off_programme_plans_nothing(tmp_path: Path) -> None:
    off = scenario_switched_off(tmp_path)
    assert off.programmes.running == ()
    quiet = planned(off)
    assert quiet.ledger == () and "ProviderView.ha_pilot" not in quiet.planned
    counts = {"totals": {"applications": 0, "folder_uploads": 0}, "programmes": {}}
    rows = calibration(off.calibration, counts, (), SCALE)
    measured = {f.measure: row for f, row in zip(off.calibration, rows, strict=True)}
    assert measured["voucher_users"]["simulated"] == 0
    assert measured["ha_pilot_visits"]["ratio"] == 0


def test_the_policy_registry_is_where_the_dates_come_from() -> None:
    assert SCENARIO.programmes.voucher is not None
    assert SCENARIO.programmes.voucher.start == date(2024, 6, 1)
    assert SCENARIO.programmes.ha_pilot is not None
    assert POLICY.institutions["hku_sz"].ha_pilot_from == SCENARIO.programmes.ha_pilot.start
