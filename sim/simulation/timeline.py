"""The timeline: every event of a simulated run, planned up front from the seed.

:func:`plan` turns a scenario, its population and the policy into a set-up day and a list
of simulated days, each with its events in a fixed order. Events are plain data
(:mod:`sim.simulation.events`); what each does over HTTP is :mod:`sim.simulation.driver`.
Planning (:mod:`sim.simulation.planning`) is deterministic (one ``random.Random``,
consumed in a fixed order), so a seed gives the same timeline; what the
server then answers is whatever the policy says — refusals the plan expects (a pilot-time
application by a 40-year-old, a scan before the 72 h processing ended) are planned on
purpose, and outcomes it did not expect are simply counted.

Times of day are chosen so that no outcome depends on how long a run takes: set-up
happens at Hong Kong midnight the day before ``start``, every simulated day at noon, and
events are never planned on the day something they depend on expires (visits happen at
most 29 days after applying and late visits at least 31; radiology deposits at most 13
days after the 14-day authorisation and late ones at least 15).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from policies.policy_file import Policy
from sim.simulation.events import (
    Apply,
    AppointCaregiver,
    Attack,
    AuthoriseRadiology,
    DepositEhr,
    DepositRadiology,
    Event,
    ForeignScan,
    GiveConsent,
    ProviderView,
    Register,
    RevokeConsent,
    UploadToFolder,
    Visit,
)
from sim.simulation.ledger import Entry
from sim.simulation.planning.cross_border import CrossBorderPlanning
from sim.simulation.planning.hong_kong import HongKongPlanning
from sim.simulation.planning.personal_folder import PersonalFolderPlanning
from sim.simulation.planning.programmes import ProgrammePlanning
from sim.simulation.population import Population
from sim.simulation.scenario import Scenario


@dataclass(frozen=True)
class Day:
    day: date
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Plan:
    setup_day: date
    setup: tuple[Event, ...]
    days: tuple[Day, ...]
    planned: dict[str, int] = field(default_factory=dict)
    ledger: tuple[Entry, ...] = ()  # the programmes' claims and visits, by day

    @property
    def event_count(self) -> int:
        return len(self.setup) + sum(len(d.events) for d in self.days)


# Within a day: consents and applications before the visits that need them, visits
# before the attacks on the same codes.
_ORDER: dict[type[Event], int] = {
    Register: 0,
    AppointCaregiver: 1,
    GiveConsent: 2,
    RevokeConsent: 3,
    DepositEhr: 4,
    Apply: 5,
    AuthoriseRadiology: 6,
    Visit: 7,
    ForeignScan: 8,
    Attack: 9,
    DepositRadiology: 10,
    UploadToFolder: 11,
    ProviderView: 12,
}


class _Timeline(ProgrammePlanning, CrossBorderPlanning, PersonalFolderPlanning, HongKongPlanning):
    """Every family's planning, in the order that consumes the ``random.Random``."""

    def setup(self) -> list[Event]:
        people = self.population.people
        events: list[Event] = [Register(p.index) for p in people]
        events += [AppointCaregiver(p.index) for p in people if p.caregiver is not None]
        for p in people:
            if p.private_provider is not None and p.private_consent is not None:
                events.append(GiveConsent(p.index, p.private_provider, p.private_consent, ("ehr",)))
        for p in people:
            events += [
                DepositEhr(p.index, r.institution_id, r.category, r.clinical_date)
                for r in p.history
            ]
        for event in events:
            self.planned["setup." + type(event).__name__] += 1
        return events

    def build(self) -> Plan:
        setup = self.setup()
        self.programmes()
        self.applications()
        self.refused_applications()
        self.folder()
        self.twists()
        self.radiology()
        self.hong_kong_care()
        days = tuple(
            Day(day, tuple(sorted(events, key=lambda e: _ORDER[type(e)])))
            for day, events in sorted(self.by_day.items())
        )
        ledger = tuple(sorted(self.ledger, key=lambda e: e.day))
        setup_day = self.scenario.start - timedelta(days=1)
        return Plan(setup_day, tuple(setup), days, dict(self.planned), ledger)


def plan(
    scenario: Scenario, population: Population, policy: Policy, rng: random.Random, scale: float
) -> Plan:
    """Every event of the run, by day (see the module docstring)."""
    return _Timeline(scenario, population, policy, rng, scale).build()
