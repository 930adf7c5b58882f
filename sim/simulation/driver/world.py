"""What every family of simulated events shares while a plan runs: the API, the people
and what each person's lane knows, the policy, the tally, the hired staff and the
simulated day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from policies.dates import HONG_KONG
from policies.policy_file import Policy
from sim.simulation.client import Api
from sim.simulation.driver.staff import Roster
from sim.simulation.population import Person, Population
from sim.simulation.tally import Tally

NOON = time(12, 0)
MIDNIGHT = time(0, 0)
PAGE = 200


def instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=HONG_KONG)


@dataclass(frozen=True)
class Codes:
    authorisation_id: str
    application_code: str
    passcode: str


@dataclass(frozen=True)
class KnownRecord:
    id: str
    clinical_date: date
    category: str


@dataclass
class PersonState:
    """What one person's lane knows: ids, codes and the records it deposited."""

    person_id: str = ""
    authorisations: dict[str, Codes] = field(default_factory=dict)
    consents: dict[str, str] = field(default_factory=dict)  # institution -> consent id
    radiology_codes: dict[str, str] = field(default_factory=dict)
    records: list[KnownRecord] = field(default_factory=list)
    delegation_renewed: bool = False


@dataclass
class World:
    """The run's shared state. ``today`` is the simulated day, moved by the driver."""

    api: Api
    population: Population
    policy: Policy
    tally: Tally
    today: date = date.min
    states: list[PersonState] = field(init=False)
    roster: Roster = field(init=False)

    def __post_init__(self) -> None:
        self.states = [PersonState() for _ in self.population.people]
        self.roster = Roster(self.api, self.policy)

    def person(self, index: int) -> tuple[Person, PersonState]:
        return self.population.people[index], self.states[index]


def newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest clinical date first; ties by category and title (never by the server's
    random ids), so that which record is opened does not depend on them."""
    ordered = sorted(items, key=lambda i: (i["category"], i["title"]))
    return sorted(ordered, key=lambda i: i["clinical_date"], reverse=True)
