"""Scenario files: what a simulated population does, as validated data.

A scenario is TOML (``sim/scenarios/default.toml`` documents every key, all required).
:func:`load_scenario` reads and validates it completely against the loaded policy (whose
registry names the institutions) and raises :class:`ScenarioError` with one line naming
the file and the line (TOML syntax) or the exact key path
(``events.applications.per_person: expected a number, got 'many'``). Unknown keys are
errors (the typed reads are :mod:`sim.simulation.scenario_reader`).

Counts (people, applications, records, authorisations) are the published figures at
``--scale 1``: :meth:`Scenario.scaled` multiplies and rounds them (a positive count never
rounds to 0). Shares, rates and durations are not scaled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from policies.policy_file import Policy
from sim.simulation.calibration import Published, read_calibration
from sim.simulation.programmes import Programmes, read_programmes
from sim.simulation.scenario_reader import Reader, ScenarioError, Table, read_toml, shown
from sim.simulation.what_if import read_what_if

__all__ = [
    "Adversarial",
    "AgeBand",
    "Applications",
    "Caregivers",
    "Folder",
    "HongKongCare",
    "Population",
    "Radiology",
    "Revocations",
    "Scenario",
    "ScenarioError",
    "Visits",
    "default_scenario_path",
    "load_scenario",
]

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


def default_scenario_path() -> Path:
    """``sim/scenarios/default.toml`` as shipped in the package."""
    return SCENARIO_DIR / "default.toml"


# --- the loaded scenario -----------------------------------------------------------------


@dataclass(frozen=True)
class AgeBand:
    """People aged ``low``..``high`` (inclusive, on the scenario's last day), weighted."""

    low: int
    high: int
    weight: float


@dataclass(frozen=True)
class Population:
    cross_border_users: float
    other_people: float
    not_joined_share: float
    ehr_records_per_person: float
    history_years: int
    private_provider_share: float
    private_consent_share: float
    one_year_consent_share: float
    ages: tuple[AgeBand, ...]


@dataclass(frozen=True)
class Caregivers:
    children_share: float
    elderly_from_age: int
    elderly_share: float
    one_year_share: float


@dataclass(frozen=True)
class Applications:
    per_person: float
    pilot_share: float
    institution_weights: Mapping[str, float]
    other_institution_weight: float


@dataclass(frozen=True)
class Visits:
    views_per_visit: float
    same_day_share: float
    days_ahead: int
    late_share: float
    pending_share: float


@dataclass(frozen=True)
class Folder:
    records: float
    pilot_institutions: tuple[str, ...]
    pilot_share: float
    after_visit_share: float


@dataclass(frozen=True)
class Radiology:
    authorisations: float
    window_days: int
    deposited_share: float
    late_share: float
    instances_per_study: int
    follow_up_share: float


@dataclass(frozen=True)
class HongKongCare:
    deposits_per_person_year: float
    private_share: float
    views_per_deposit: float
    restricted_share: float
    wrong_otp_share: float


@dataclass(frozen=True)
class Revocations:
    cross_border_share: float
    sharing_consent_share: float


@dataclass(frozen=True)
class Adversarial:
    wrong_passcode_share: float
    guessing_attack_share: float
    foreign_token_share: float
    lookback_probe_share: float
    non_designated_visit_share: float
    ineligible_application_share: float
    non_designated_application_share: float


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: str
    start: date
    end: date
    routine_every_days: int
    population: Population
    caregivers: Caregivers
    applications: Applications
    visits: Visits
    folder: Folder
    radiology: Radiology
    hk_care: HongKongCare
    revocations: Revocations
    adversarial: Adversarial
    calibration: tuple[Published, ...] = ()
    programmes: Programmes = field(default_factory=Programmes)
    what_if: tuple[dict[str, Any], ...] = ()  # timeline entries added to the policy

    @staticmethod
    def scaled(count: float, scale: float) -> int:
        """``count`` at ``scale``, rounded; a positive count never rounds to 0."""
        if count <= 0:
            return 0
        return max(1, round(count * scale))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


# --- reading -----------------------------------------------------------------------------


def load_scenario(path: str | Path, policy: Policy) -> Scenario:
    """Read and validate a scenario file; institution ids are checked against
    ``policy``'s registry."""
    return _Sections(str(path), policy).scenario(Table(read_toml(path), ""))


class _Sections(Reader):
    """The scenario's sections, each read completely (an unknown key is an error)."""

    def ages(self, parent: Table, name: str) -> tuple[AgeBand, ...]:
        values = self.value(parent, name)
        key = parent.key(name)
        if not isinstance(values, list) or not values:
            self.fail(key, f"expected a non-empty array of tables, got {shown(values)}")
        bands = []
        for n, item in enumerate(values):
            if not isinstance(item, dict):
                self.fail(f"{key}[{n}]", f"expected a table, got {shown(item)}")
            band = Table(item, f"{key}[{n}]")
            low, high = self.whole(band, "from", high=120), self.whole(band, "to", high=120)
            if high < low:
                self.fail(band.key("to"), f"must not be below `from` ({low}), got {high}")
            bands.append(AgeBand(low, high, self.number(band, "weight")))
            self.done(band)
        if not any(b.weight > 0 for b in bands):
            self.fail(key, "at least one band needs a positive weight")
        return tuple(bands)

    # the sections

    def scenario(self, top: Table) -> Scenario:
        name, description = self.text(top, "name"), self.text(top, "description")
        start, end = self.day(top, "start"), self.day(top, "end")
        if end < start:
            self.fail("end", f"must not be before start ({start}), got {end}")
        routine = self.whole(top, "routine_every_days", low=1, high=31)
        population = self.population(self.table(top, "population"))
        caregivers = self.caregivers(self.table(top, "caregivers"))
        events = self.table(top, "events")
        scenario = Scenario(
            name=name,
            description=description,
            path=self.label,
            start=start,
            end=end,
            routine_every_days=routine,
            population=population,
            caregivers=caregivers,
            applications=self.applications(self.table(events, "applications")),
            visits=self.visits(self.table(events, "visits")),
            folder=self.folder(self.table(events, "folder")),
            radiology=self.radiology(self.table(events, "radiology")),
            hk_care=self.hk_care(self.table(events, "hk_care")),
            revocations=self.revocations(self.table(events, "revocations")),
            adversarial=self.adversarial(self.table(events, "adversarial")),
            calibration=read_calibration(self, top),
            programmes=read_programmes(self, top),
            what_if=read_what_if(self, top),
        )
        self.done(events)
        self.done(top)
        return scenario

    def population(self, t: Table) -> Population:
        population = Population(
            cross_border_users=self.number(t, "cross_border_users"),
            other_people=self.number(t, "other_people"),
            not_joined_share=self.share(t, "not_joined_share"),
            ehr_records_per_person=self.number(t, "ehr_records_per_person", high=200),
            history_years=self.whole(t, "history_years", low=1, high=50),
            private_provider_share=self.share(t, "private_provider_share"),
            private_consent_share=self.share(t, "private_consent_share"),
            one_year_consent_share=self.share(t, "one_year_consent_share"),
            ages=self.ages(t, "ages"),
        )
        self.done(t)
        return population

    def caregivers(self, t: Table) -> Caregivers:
        caregivers = Caregivers(
            children_share=self.share(t, "children_share"),
            elderly_from_age=self.whole(t, "elderly_from_age", low=16, high=120),
            elderly_share=self.share(t, "elderly_share"),
            one_year_share=self.share(t, "one_year_share"),
        )
        self.done(t)
        return caregivers

    def applications(self, t: Table) -> Applications:
        applications = Applications(
            per_person=self.number(t, "per_person", high=20),
            pilot_share=self.share(t, "pilot_share"),
            institution_weights=self.institution_weights(t, "institution_weights"),
            other_institution_weight=self.number(t, "other_institution_weight"),
        )
        self.done(t)
        return applications

    def visits(self, t: Table) -> Visits:
        visits = Visits(
            views_per_visit=self.number(t, "views_per_visit", high=50),
            same_day_share=self.share(t, "same_day_share"),
            days_ahead=self.whole(t, "days_ahead", low=1, high=25),
            late_share=self.share(t, "late_share"),
            pending_share=self.share(t, "pending_share"),
        )
        self.done(t)
        return visits

    def folder(self, t: Table) -> Folder:
        folder = Folder(
            records=self.number(t, "records"),
            pilot_institutions=self.institutions(t, "pilot_institutions"),
            pilot_share=self.share(t, "pilot_share"),
            after_visit_share=self.share(t, "after_visit_share"),
        )
        self.done(t)
        return folder

    def radiology(self, t: Table) -> Radiology:
        radiology = Radiology(
            authorisations=self.number(t, "authorisations"),
            window_days=self.whole(t, "window_days", low=1, high=3650),
            deposited_share=self.share(t, "deposited_share"),
            late_share=self.share(t, "late_share"),
            instances_per_study=self.whole(t, "instances_per_study", low=1, high=20),
            follow_up_share=self.share(t, "follow_up_share"),
        )
        if radiology.deposited_share + radiology.late_share > 1:
            self.fail(t.key("late_share"), "deposited_share + late_share must not exceed 1")
        self.done(t)
        return radiology

    def hk_care(self, t: Table) -> HongKongCare:
        care = HongKongCare(
            deposits_per_person_year=self.number(t, "deposits_per_person_year", high=100),
            private_share=self.share(t, "private_share"),
            views_per_deposit=self.number(t, "views_per_deposit", high=20),
            restricted_share=self.share(t, "restricted_share"),
            wrong_otp_share=self.share(t, "wrong_otp_share"),
        )
        self.done(t)
        return care

    def revocations(self, t: Table) -> Revocations:
        revocations = Revocations(
            cross_border_share=self.share(t, "cross_border_share"),
            sharing_consent_share=self.share(t, "sharing_consent_share"),
        )
        self.done(t)
        return revocations

    def adversarial(self, t: Table) -> Adversarial:
        adversarial = Adversarial(
            wrong_passcode_share=self.share(t, "wrong_passcode_share"),
            guessing_attack_share=self.share(t, "guessing_attack_share"),
            foreign_token_share=self.share(t, "foreign_token_share"),
            lookback_probe_share=self.share(t, "lookback_probe_share"),
            non_designated_visit_share=self.share(t, "non_designated_visit_share"),
            ineligible_application_share=self.share(t, "ineligible_application_share"),
            non_designated_application_share=self.share(t, "non_designated_application_share"),
        )
        self.done(t)
        return adversarial
