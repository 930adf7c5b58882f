"""The timeline: every event of a simulated run, planned up front from the seed.

:func:`plan` turns a scenario, its population and the policy into a set-up day and a list
of simulated days, each with its events in a fixed order. Events are plain data; what each
does over HTTP is :mod:`sim.simulation.driver`. Planning is deterministic (one
``random.Random``, consumed in a fixed order), so a seed gives the same timeline; what the
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

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

from policies.policy_file import Institution, Policy
from policies.vocabulary import Category, Profession, Region
from sim.simulation.population import (
    EHR_CATEGORIES,
    Person,
    Population,
    poisson,
    public_provider,
)
from sim.simulation.scenario import Scenario

T = TypeVar("T")

LAST_VISIT_DAY = 29  # authorisations last 30 days (policy default); stay clear of the end
FIRST_LATE_DAY = 31
FIRST_LATE_DEPOSIT_DAY = 15  # radiology authorisations last 14 days
ELSEWHERE = "mainland_other"  # a Personal Folder record from a non-designated provider
FOLDER_CATEGORIES: tuple[tuple[Category, float], ...] = (
    (Category.DOCUMENT, 40),
    (Category.LAB_REPORT, 20),
    (Category.CLINICAL_NOTE, 15),
    (Category.MEDICATION, 10),
    (Category.RADIOLOGY_REPORT, 10),
    (Category.DIAGNOSIS_PROCEDURE, 5),
)  # choice: what people bring home from treatment in the Mainland


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something one person's story does on a day. ``person`` is also the lane: events
    of one person run in order, different people's may run side by side."""

    person: int


@dataclass(frozen=True)
class Register(Event):
    """The operator registers the person (joined or not)."""


@dataclass(frozen=True)
class AppointCaregiver(Event):
    """The person lets their caregiver act for them (until ``Person.caregiver_until``)."""


@dataclass(frozen=True)
class GiveConsent(Event):
    institution_id: str
    kind: str  # one_year | indefinite
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class RevokeConsent(Event):
    """The person revokes their consent to ``institution_id``; its doctor reads again."""

    institution_id: str


@dataclass(frozen=True)
class DepositEhr(Event):
    institution_id: str
    category: Category
    clinical_date: date


@dataclass(frozen=True)
class Apply(Event):
    """A cross-border application (the person, or their caregiver, in the app)."""

    key: str
    institution_id: str
    expected: str = "issued"  # or the refusal the plan means: not_eligible, not_designated


@dataclass(frozen=True)
class Visit(Event):
    """Staff of the application's institution scan the two codes, list the records and
    open ``views`` of them; optional twists, each an adversarial or revocation case."""

    application: str
    institution_id: str
    views: int = 0
    expected: str = "session"  # or pending, expired
    typo: bool = False  # a wrong passcode first
    revoke_after: bool = False  # the person revokes; the doctor lists again
    foreign_institution: str | None = None  # another institution's token on the session
    probe: bool = False  # ask for a known record older than the lookback


@dataclass(frozen=True)
class ForeignScan(Event):
    """Staff of ``institution_id`` (not designated today, or a Hong Kong one) scan codes
    issued for another institution."""

    application: str
    institution_id: str


@dataclass(frozen=True)
class Attack(Event):
    """Someone at ``institution_id`` guesses passcodes for a known application code until
    the codes lock."""

    application: str
    institution_id: str
    attempts: int = 5


@dataclass(frozen=True)
class UploadToFolder(Event):
    category: Category
    source: str  # the treating institution's id, or ELSEWHERE
    clinical_date: date


@dataclass(frozen=True)
class ProviderView(Event):
    """A Hong Kong professional opens the person's records: a doctor lists and opens the
    newest; with ``restricted`` a nurse first asks for radiology reports (reason + OTP);
    with ``folder`` the person first opens their Personal Folder to the institution."""

    institution_id: str
    profession: Profession = Profession.DOCTOR
    restricted: bool = False
    wrong_otp: bool = False
    folder: bool = False


@dataclass(frozen=True)
class AuthoriseRadiology(Event):
    key: str
    institution_id: str


@dataclass(frozen=True)
class DepositRadiology(Event):
    authorisation: str
    institution_id: str
    instances: int
    late: bool = False


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


# --- planning ----------------------------------------------------------------------------


def choose(rng: random.Random, items: Sequence[T], share: float) -> list[T]:
    """``round(len(items) * share)`` of ``items`` (at least one when ``share`` > 0 and
    there are any): exact counts, so small scales still show every case."""
    return _sample(rng, items, _count(len(items), share))


@dataclass
class _Planner:
    scenario: Scenario
    population: Population
    policy: Policy
    rng: random.Random
    scale: float
    by_day: dict[date, list[Event]] = field(default_factory=dict)
    visits: list[tuple[date, Visit]] = field(default_factory=list)
    planned: Counter[str] = field(default_factory=Counter)
    _keys: int = 0

    # helpers

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

    # set-up

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

    # the cross-border record

    def applications(self) -> None:
        spec = self.scenario.applications
        users = list(self.population.cross_border_users)
        if not users:
            return
        total = max(len(users), round(len(users) * spec.per_person))
        slots = users + self.rng.choices(users, k=total - len(users))
        self.rng.shuffle(slots)
        pilot = [d for d in self.days if self.policy.rules_on(d).cross_border_min_age > 0]
        open_days = [d for d in self.days if self.policy.rules_on(d).cross_border_min_age == 0]
        pilot_left = round(total * spec.pilot_share) if pilot else 0
        for person in slots:
            day = None
            if pilot_left > 0:
                candidate = self.rng.choice(pilot)
                if self.eligible(person, candidate):
                    day, pilot_left = candidate, pilot_left - 1
            if day is None:
                day = self.rng.choice(open_days or pilot)
            self.application(person, day)

    def application(self, person: Person, day: date) -> None:
        institution = self.weighted_institution(day)
        if institution is None:
            return
        key = self.key("a")
        self.add(day, Apply(person.index, key, institution))
        if not person.joined or not self.eligible(person, day):
            return
        self.visit(person, day, key, institution)

    def visit(self, person: Person, applied: date, key: str, institution: str) -> None:
        spec = self.scenario.visits
        end = self.scenario.end
        wait = self.processing_days(applied)
        if wait == 0 and self.rng.random() < spec.same_day_share:
            day = applied
        else:
            day = applied + timedelta(days=max(wait, self.rng.randint(1, spec.days_ahead)))
        day = min(day, applied + timedelta(days=LAST_VISIT_DAY))
        if wait and self.rng.random() < spec.pending_share:
            early = applied + timedelta(days=self.rng.randint(1, max(1, wait - 2)))
            if early <= end:
                self.add(early, Visit(person.index, key, institution, expected="pending"))
        if self.rng.random() < spec.late_share:
            late = applied + timedelta(days=self.rng.randint(FIRST_LATE_DAY, FIRST_LATE_DAY + 14))
            if late + timedelta(days=1) <= end:
                self.add(late, Visit(person.index, key, institution, expected="expired"))
                self.application(person, late + timedelta(days=1))  # apply again
                return
        if day > end:
            return
        views = poisson(self.rng, spec.views_per_visit)
        self.visits.append((day, Visit(person.index, key, institution, views=views)))

    def refused_applications(self) -> None:
        """Applications the rules refuse: under-65s during the pilot, and institutions
        not designated yet (or Hong Kong ones, once every Mainland one is). Their shares
        are of the cross-border users."""
        spec = self.scenario.adversarial
        users = self.population.cross_border_users
        pilot = [d for d in self.days if self.policy.rules_on(d).cross_border_min_age > 0]
        young = [p for p in users if pilot and not self.eligible(p, pilot[-1])]
        for person in _sample(
            self.rng, young, _count(len(users), spec.ineligible_application_share)
        ):
            day = self.rng.choice(pilot)
            institution = self.weighted_institution(day)
            if institution is not None:
                refused = Apply(person.index, self.key("a"), institution, expected="not_eligible")
                self.add(day, refused, "Apply.refused")
        for person in choose(self.rng, users, spec.non_designated_application_share):
            day = self.rng.choice(self.days)
            candidates = self.not_designated(day) or self.hong_kong()
            institution = self.rng.choice(candidates).id
            refused = Apply(person.index, self.key("a"), institution, expected="not_designated")
            self.add(day, refused, "Apply.refused")

    def twists(self) -> None:
        """Give the planned visits their adversarial and revocation twists, then add them
        (and the attacks and foreign scans that follow them) to their days."""
        adversarial = self.scenario.adversarial
        revocations = self.scenario.revocations
        visits = list(range(len(self.visits)))
        typos = set(choose(self.rng, visits, adversarial.wrong_passcode_share))
        revoked = set(choose(self.rng, visits, revocations.cross_border_share))
        foreign = set(choose(self.rng, visits, adversarial.foreign_token_share))
        probes = set(choose(self.rng, visits, adversarial.lookback_probe_share))
        attacks = set(choose(self.rng, visits, adversarial.guessing_attack_share))
        scans = set(choose(self.rng, visits, adversarial.non_designated_visit_share))
        for n, (day, visit) in enumerate(self.visits):
            other = None
            if n in foreign:
                others = [i.id for i in self.designated(day) if i.id != visit.institution_id]
                other = self.rng.choice(others) if others else None
            twisted = Visit(
                visit.person,
                visit.application,
                visit.institution_id,
                views=visit.views,
                typo=n in typos,
                revoke_after=n in revoked,
                foreign_institution=other,
                probe=n in probes,
            )
            self.add(day, twisted)
            if n in scans:
                candidates = self.not_designated(day) or self.hong_kong()
                scanner = self.rng.choice(candidates).id
                self.add(day, ForeignScan(visit.person, visit.application, scanner))
            if n in attacks:
                self.add(day, Attack(visit.person, visit.application, visit.institution_id))

    # the Personal Folder and radiology

    def folder(self) -> None:
        spec = self.scenario.folder
        total = Scenario.scaled(spec.records, self.scale)
        pilot_ids = set(spec.pilot_institutions)
        mainland = [i.id for i in self.policy.institutions.values() if i.region is Region.MAINLAND]
        others = [*sorted(set(mainland) - pilot_ids), ELSEWHERE]
        from_pilot = round(total * spec.pilot_share)
        visits_by_group: dict[bool, list[tuple[date, Visit]]] = {True: [], False: []}
        for day, visit in self.visits:
            visits_by_group[visit.institution_id in pilot_ids].append((day, visit))
        categories = [c for c, _ in FOLDER_CATEGORIES]
        weights = [w for _, w in FOLDER_CATEGORIES]
        people = self.population.people
        for n in range(total):
            pilot = n < from_pilot
            candidates = visits_by_group[pilot]
            if candidates and self.rng.random() < spec.after_visit_share:
                day, visit = self.rng.choice(candidates)
                person, source = visit.person, visit.institution_id
            else:
                day = self.rng.choice(self.routine_days)
                person = self.rng.choice(people).index
                source = self.rng.choice(sorted(pilot_ids) if pilot else others)
            category = self.rng.choices(categories, weights=weights)[0]
            self.add(day, UploadToFolder(person, category, source, self.treated_on(day)))

    def radiology(self) -> None:
        spec = self.scenario.radiology
        end = self.scenario.end
        starts = [
            i.radiology_depositor_from
            for i in self.policy.institutions.values()
            if i.radiology_depositor_from is not None
        ]
        users = [p for p in self.population.cross_border_users if p.joined]
        if not starts or not users or min(starts) > end:
            return
        launch = min(starts)
        last = min(end, launch + timedelta(days=spec.window_days - 1))
        total = Scenario.scaled(spec.authorisations, self.scale)
        deposited = round(total * spec.deposited_share)
        late = round(total * spec.late_share)
        followed = set(self.rng.sample(range(deposited), round(deposited * spec.follow_up_share)))
        for n in range(total):
            day = self.day_between(launch, last)
            depositors = sorted(
                i.id for i in self.policy.institutions.values() if i.is_radiology_depositor(day)
            )
            person = self.rng.choice(users)
            key = self.key("r")
            institution = self.rng.choice(depositors)
            self.add(day, AuthoriseRadiology(person.index, key, institution))
            instances = self.scenario.radiology.instances_per_study
            if n < deposited:
                at = day + timedelta(days=self.rng.randint(0, 3))
                if at <= end:
                    self.add(at, DepositRadiology(person.index, key, institution, instances))
                    follow = at + timedelta(days=self.rng.randint(1, 7))
                    if n in followed and follow <= end:
                        self.add(follow, ProviderView(person.index, "ha", folder=True))
            elif n < deposited + late:
                at = day + timedelta(days=self.rng.randint(FIRST_LATE_DEPOSIT_DAY, 20))
                if at <= end:
                    self.add(
                        at,
                        DepositRadiology(person.index, key, institution, instances, late=True),
                        "DepositRadiology.late",
                    )

    # Hong Kong care

    def hong_kong_care(self) -> None:
        spec = self.scenario.hk_care
        people = self.population.people
        public = [i.id for i in self.hong_kong() if i.implied_sharing] or ["ha"]
        main = "ha" if "ha" in public else public[0]
        years = self.scenario.days / 365.25
        deposits = round(len(people) * spec.deposits_per_person_year * years)
        categories = [c for c, _ in EHR_CATEGORIES]
        weights = [w for _, w in EHR_CATEGORIES]
        for _ in range(deposits):
            person = self.rng.choice(people)
            day = self.rng.choice(self.routine_days)
            institution = public_provider(self.rng, public)
            if person.private_provider is not None and self.rng.random() < spec.private_share:
                institution = person.private_provider
            category = self.rng.choices(categories, weights=weights)[0]
            self.add(day, DepositEhr(person.index, institution, category, self.treated_on(day)))
        views = list(range(round(deposits * spec.views_per_deposit)))
        restricted = set(choose(self.rng, views, spec.restricted_share))
        mistyped = set(choose(self.rng, sorted(restricted), spec.wrong_otp_share))
        for n in views:
            person = self.rng.choice(people)
            day = self.rng.choice(self.routine_days)
            if n in restricted:
                event = ProviderView(
                    person.index,
                    main,
                    Profession.NURSE,
                    restricted=True,
                    wrong_otp=n in mistyped,
                )
            else:
                institution = main
                if person.private_provider is not None and self.rng.random() < spec.private_share:
                    institution = person.private_provider
                event = ProviderView(person.index, institution)
            self.add(day, event)
        consenting = [p for p in people if p.private_consent is not None]
        share = self.scenario.revocations.sharing_consent_share
        for person in choose(self.rng, consenting, share):
            assert person.private_provider is not None
            day = self.rng.choice(self.routine_days)
            self.add(day, RevokeConsent(person.index, person.private_provider))

    def build(self) -> Plan:
        setup = self.setup()
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
        return Plan(self.scenario.start - timedelta(days=1), tuple(setup), days, dict(self.planned))


def _count(total: int, share: float) -> int:
    """``round(total * share)``, at least one when both are positive."""
    return 0 if share <= 0 or total <= 0 else max(1, round(total * share))


def _sample(rng: random.Random, items: Sequence[T], k: int) -> list[T]:
    return rng.sample(list(items), min(k, len(items)))


def plan(
    scenario: Scenario, population: Population, policy: Policy, rng: random.Random, scale: float
) -> Plan:
    """Every event of the run, by day (see the module docstring)."""
    return _Planner(scenario, population, policy, rng, scale).build()
