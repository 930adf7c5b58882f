"""The planner every family of events adds to: the scenario, the people, the policy, one
``random.Random`` (consumed in a fixed order), and the events planned so far by day; with
the calendar and registry questions the families ask."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

from policies.policy_file import Institution, Policy
from policies.vocabulary import Region
from sim.simulation.events import Event, Visit
from sim.simulation.ledger import Entry
from sim.simulation.population import Person, Population
from sim.simulation.scenario import Scenario

T = TypeVar("T")


def choose(rng: random.Random, items: Sequence[T], share: float) -> list[T]:
    """``round(len(items) * share)`` of ``items`` (at least one when ``share`` > 0 and
    there are any): exact counts, so small scales still show every case."""
    return sample(rng, items, count_of(len(items), share))


def count_of(total: int, share: float) -> int:
    """``round(total * share)``, at least one when both are positive."""
    return 0 if share <= 0 or total <= 0 else max(1, round(total * share))


def sample(rng: random.Random, items: Sequence[T], k: int) -> list[T]:
    return rng.sample(list(items), min(k, len(items)))


@dataclass
class Planner:
    """The state of a plan being made; the families of events add to ``by_day``."""

    scenario: Scenario
    population: Population
    policy: Policy
    rng: random.Random
    scale: float
    by_day: dict[date, list[Event]] = field(default_factory=dict)
    visits: list[tuple[date, Visit]] = field(default_factory=list)
    # The programmes' visits in the timeline by people of the population, (day, person,
    # institution): where Personal Folder records come from; voucher visits by person.
    programme_visits: list[tuple[date, int, str]] = field(default_factory=list)
    voucher_visits: dict[int, list[tuple[date, str]]] = field(default_factory=dict)
    ledger: list[Entry] = field(default_factory=list)
    planned: Counter[str] = field(default_factory=Counter)
    _keys: int = 0

    def add(self, day: date, event: Event, label: str | None = None) -> None:
        self.by_day.setdefault(day, []).append(event)
        self.planned[label or type(event).__name__] += 1

    def key(self, prefix: str) -> str:
        self._keys += 1
        return f"{prefix}{self._keys}"

    def day_between(self, first: date, last: date) -> date:
        return first + timedelta(days=self.rng.randint(0, max(0, (last - first).days)))

    @property
    def days(self) -> list[date]:
        s = self.scenario
        return [s.start + timedelta(days=n) for n in range(s.days)]

    @property
    def routine_days(self) -> list[date]:
        """The days routine events happen on: every ``routine_every_days``-th day."""
        return self.days[:: self.scenario.routine_every_days]

    def treated_on(self, day: date) -> date:
        """A clinical date in the routine period that ends on ``day``."""
        earliest = max(self.scenario.start, day - timedelta(self.scenario.routine_every_days - 1))
        return self.day_between(earliest, day)

    def designated(self, day: date) -> list[Institution]:
        return sorted(self.policy.designated_institutions(day), key=lambda i: i.id)

    def not_designated(self, day: date) -> list[Institution]:
        return sorted(
            (
                i
                for i in self.policy.institutions.values()
                if i.region is Region.MAINLAND and not i.is_designated(day)
            ),
            key=lambda i: i.id,
        )

    def hong_kong(self) -> list[Institution]:
        return sorted(
            (i for i in self.policy.institutions.values() if i.region is Region.HONG_KONG),
            key=lambda i: i.id,
        )

    def weighted_institution(self, day: date) -> str | None:
        candidates = self.designated(day)
        if not candidates:
            return None
        spec = self.scenario.applications
        weights = [
            spec.institution_weights.get(i.id, spec.other_institution_weight) for i in candidates
        ]
        if sum(weights) <= 0:
            return self.rng.choice(candidates).id
        return self.rng.choices(candidates, weights=weights)[0].id

    def eligible(self, person: Person, day: date) -> bool:
        return person.age_on(day) >= self.policy.rules_on(day).cross_border_min_age

    def processing_days(self, day: date) -> int:
        hours = self.policy.rules_on(day).cross_border_processing.total_seconds() / 3600
        return 0 if hours <= 0 else math.ceil(hours / 24) + 1
