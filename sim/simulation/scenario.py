"""Scenario files: what a simulated population does, as validated data.

A scenario is TOML (``sim/scenarios/default.toml`` documents every key, all required).
:func:`load_scenario` reads and validates it completely against the loaded policy (whose
registry names the institutions) and raises :class:`ScenarioError` with one line naming
the file and the line (TOML syntax) or the exact key path
(``events.applications.per_person: expected a number, got 'many'``). Unknown keys are
errors.

Counts (people, applications, records, authorisations) are the published figures at
``--scale 1``: :meth:`Scenario.scaled` multiplies and rounds them (a positive count never
rounds to 0). Shares, rates and durations are not scaled.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from policies.policy_file import Policy
from policies.vocabulary import Region

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


def default_scenario_path() -> Path:
    """``sim/scenarios/default.toml`` as shipped in the package."""
    return SCENARIO_DIR / "default.toml"


class ScenarioError(ValueError):
    """A scenario file that cannot be used. The message names the file and the line or
    key, in one line."""


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
    label = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ScenarioError(f"{label}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{label}: is a directory, not a scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: {_toml_problem(exc)}") from None
    return _Reader(label, policy).scenario(_Table(data, ""))


def _toml_problem(exc: tomllib.TOMLDecodeError) -> str:
    """``line 7, column 12: not valid TOML: Expected '=' after a key…`` from tomllib's
    message (which ends with ``(at line 7, column 12)``)."""
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found is None:
        return f"not valid TOML: {message}"
    return f"line {found[1]}, column {found[2]}: not valid TOML: {message[: found.start()]}"


class _Table:
    """One TOML table and the dotted path that leads to it; remembers which keys were
    read, so that whatever is left over is an unknown key."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self.data = data
        self.path = path
        self.read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def take(self, name: str) -> Any:
        self.read.add(name)
        return self.data.get(name, _MISSING)

    def leftover(self) -> list[str]:
        return [k for k in self.data if k not in self.read]


_MISSING = object()


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


class _Reader:
    """Typed reads; every failure names ``file: key.path: what was wrong``."""

    def __init__(self, label: str, policy: Policy) -> None:
        self.label = label
        self.policy = policy

    def fail(self, key: str, message: str) -> NoReturn:
        raise ScenarioError(f"{self.label}: {key}: {message}")

    # scalar kinds

    def value(self, table: _Table, name: str) -> Any:
        value = table.take(name)
        if value is _MISSING:
            near = difflib.get_close_matches(name, [str(k) for k in table.data], n=1, cutoff=0.75)
            hint = f" (found {near[0]!r}: misspelt?)" if near else ""
            self.fail(table.key(name), f"missing{hint}")
        return value

    def text(self, table: _Table, name: str) -> str:
        value = self.value(table, name)
        if not isinstance(value, str) or not value.strip():
            self.fail(table.key(name), f"expected a non-empty string, got {_shown(value)}")
        return value

    def day(self, table: _Table, name: str) -> date:
        value = self.value(table, name)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        self.fail(table.key(name), f"expected a date (YYYY-MM-DD), got {_shown(value)}")

    def number(
        self, table: _Table, name: str, *, low: float = 0.0, high: float = math.inf
    ) -> float:
        value = self.value(table, name)
        key = table.key(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number, got {_shown(value)}")
        if math.isnan(value) or math.isinf(value):
            self.fail(key, f"expected a finite number, got {value!r}")
        if value < low:
            self.fail(key, "must not be negative" if low == 0 else f"must be at least {low:g}")
        if value > high:
            self.fail(key, f"must be at most {high:g}, got {value!r}")
        return float(value)

    def share(self, table: _Table, name: str) -> float:
        value = self.value(table, name)
        if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= 1:
            self.fail(table.key(name), f"expected a share between 0 and 1, got {value!r}")
        return self.number(table, name, high=1.0)

    def whole(self, table: _Table, name: str, *, low: int = 0, high: int = 10_000) -> int:
        value = self.value(table, name)
        key = table.key(name)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, got {_shown(value)}")
        if value < low:
            self.fail(key, "must not be negative" if low == 0 else f"must be at least {low}")
        if value > high:
            self.fail(key, f"must be at most {high}, got {value}")
        return value

    # structure

    def table(self, parent: _Table, name: str) -> _Table:
        value = self.value(parent, name)
        if not isinstance(value, dict):
            self.fail(parent.key(name), f"expected a table, got {_shown(value)}")
        return _Table(value, parent.key(name))

    def done(self, table: _Table) -> None:
        for name in table.leftover():
            self.fail(table.key(name), "unknown key")

    def institution(self, key: str, value: Any, *, region: Region) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected an institution id, got {_shown(value)}")
        institution = self.policy.institutions.get(value)
        if institution is None:
            self.fail(key, f"unknown institution {value!r} (not in policy {self.policy.name!r})")
        if institution.region is not region:
            self.fail(key, f"{value!r} is not a {region.value.replace('_', ' ')} institution")
        return value

    def institution_weights(self, parent: _Table, name: str) -> dict[str, float]:
        table = self.table(parent, name)
        weights: dict[str, float] = {}
        for iid in list(table.data):
            self.institution(table.key(iid), iid, region=Region.MAINLAND)
            weights[iid] = self.number(table, iid)
        return weights

    def institutions(self, table: _Table, name: str) -> tuple[str, ...]:
        values = self.value(table, name)
        key = table.key(name)
        if not isinstance(values, list) or not values:
            self.fail(key, f"expected a non-empty array of institution ids, got {_shown(values)}")
        return tuple(
            self.institution(f"{key}[{n}]", v, region=Region.MAINLAND) for n, v in enumerate(values)
        )

    def ages(self, parent: _Table, name: str) -> tuple[AgeBand, ...]:
        values = self.value(parent, name)
        key = parent.key(name)
        if not isinstance(values, list) or not values:
            self.fail(key, f"expected a non-empty array of tables, got {_shown(values)}")
        bands = []
        for n, item in enumerate(values):
            if not isinstance(item, dict):
                self.fail(f"{key}[{n}]", f"expected a table, got {_shown(item)}")
            band = _Table(item, f"{key}[{n}]")
            low, high = self.whole(band, "from", high=120), self.whole(band, "to", high=120)
            if high < low:
                self.fail(band.key("to"), f"must not be below `from` ({low}), got {high}")
            bands.append(AgeBand(low, high, self.number(band, "weight")))
            self.done(band)
        if not any(b.weight > 0 for b in bands):
            self.fail(key, "at least one band needs a positive weight")
        return tuple(bands)

    # the sections

    def scenario(self, top: _Table) -> Scenario:
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
        )
        self.done(events)
        self.done(top)
        return scenario

    def population(self, t: _Table) -> Population:
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

    def caregivers(self, t: _Table) -> Caregivers:
        caregivers = Caregivers(
            children_share=self.share(t, "children_share"),
            elderly_from_age=self.whole(t, "elderly_from_age", low=16, high=120),
            elderly_share=self.share(t, "elderly_share"),
            one_year_share=self.share(t, "one_year_share"),
        )
        self.done(t)
        return caregivers

    def applications(self, t: _Table) -> Applications:
        applications = Applications(
            per_person=self.number(t, "per_person", high=20),
            pilot_share=self.share(t, "pilot_share"),
            institution_weights=self.institution_weights(t, "institution_weights"),
            other_institution_weight=self.number(t, "other_institution_weight"),
        )
        self.done(t)
        return applications

    def visits(self, t: _Table) -> Visits:
        visits = Visits(
            views_per_visit=self.number(t, "views_per_visit", high=50),
            same_day_share=self.share(t, "same_day_share"),
            days_ahead=self.whole(t, "days_ahead", low=1, high=25),
            late_share=self.share(t, "late_share"),
            pending_share=self.share(t, "pending_share"),
        )
        self.done(t)
        return visits

    def folder(self, t: _Table) -> Folder:
        folder = Folder(
            records=self.number(t, "records"),
            pilot_institutions=self.institutions(t, "pilot_institutions"),
            pilot_share=self.share(t, "pilot_share"),
            after_visit_share=self.share(t, "after_visit_share"),
        )
        self.done(t)
        return folder

    def radiology(self, t: _Table) -> Radiology:
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

    def hk_care(self, t: _Table) -> HongKongCare:
        care = HongKongCare(
            deposits_per_person_year=self.number(t, "deposits_per_person_year", high=100),
            private_share=self.share(t, "private_share"),
            views_per_deposit=self.number(t, "views_per_deposit", high=20),
            restricted_share=self.share(t, "restricted_share"),
            wrong_otp_share=self.share(t, "wrong_otp_share"),
        )
        self.done(t)
        return care

    def revocations(self, t: _Table) -> Revocations:
        revocations = Revocations(
            cross_border_share=self.share(t, "cross_border_share"),
            sharing_consent_share=self.share(t, "sharing_consent_share"),
        )
        self.done(t)
        return revocations

    def adversarial(self, t: _Table) -> Adversarial:
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
