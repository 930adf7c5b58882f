"""The synthetic population: people with ages, an eHR history over years, a private
provider for some, and caregivers for children and some of the very old.

Everything is drawn from one ``random.Random`` in a fixed order, so a seed gives the same
people every time. Names are made up from common Hong Kong surnames and given-name
syllables; the DICOM form (``CHAN^TAI MAN``) is what radiology depositors put in the
studies they file.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta

from policies.dates import age_on, shift_years
from policies.policy_file import Policy
from policies.vocabulary import Category, InstitutionKind, Region
from sim.simulation.scenario import AgeBand, Scenario

SURNAMES = (
    "Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung", "Tam", "Yip", "Lam", "Tsang",
    "Chow", "Kwok", "Mak", "Fung", "Lo", "Tse", "Yeung", "Choi", "Poon", "Siu", "Law", "Ma",
)  # fmt: skip
SYLLABLES = (
    "Tai", "Man", "Mei", "Ling", "Ka", "Ho", "Wai", "Kit", "Siu", "Yan", "Chi", "Ming",
    "Wing", "Fai", "Kwan", "Yee", "Hoi", "Sum", "Lok", "Hin", "Ching", "Kam", "Pui", "Shan",
)  # fmt: skip

# What HK providers deposit, by weight (choice: a plausible mix of a public-hospital eHR).
EHR_CATEGORIES: tuple[tuple[Category, float], ...] = (
    (Category.LAB_REPORT, 26),
    (Category.MEDICATION, 18),
    (Category.ENCOUNTER, 16),
    (Category.DIAGNOSIS_PROCEDURE, 10),
    (Category.CLINICAL_NOTE, 9),
    (Category.RADIOLOGY_REPORT, 8),
    (Category.OTHER_INVESTIGATION, 4),
    (Category.ALLERGY, 3),
    (Category.REFERRAL, 3),
    (Category.BIRTH_IMMUNISATION, 2),
    (Category.DEMOGRAPHICS, 1),
)
PUBLIC_SHARE_OF_HISTORY = 0.85  # choice: HA/DH wrote most of a person's history
HA_SHARE_OF_PUBLIC = 0.85  # choice: of public records, the Hospital Authority's (else DH's)


@dataclass(frozen=True)
class HistoryRecord:
    """An eHR written before the timeline starts (deposited during set-up)."""

    clinical_date: date
    category: Category
    institution_id: str


@dataclass(frozen=True)
class Person:
    index: int
    name: str
    date_of_birth: date
    joined: bool
    cross_border_user: bool
    private_provider: str | None  # an HK private institution the person also sees
    private_consent: str | None  # "one_year" | "indefinite": given at set-up, if any
    history: tuple[HistoryRecord, ...]
    caregiver: int | None = None  # the index of the person who acts for this one
    caregiver_until: date | None = None  # a one-year delegation ends (HK midnight) then

    @property
    def dicom_name(self) -> str:
        surname, *given = self.name.split()
        return f"{surname.upper()}^{' '.join(given).upper()}"

    def age_on(self, day: date) -> int:
        return age_on(self.date_of_birth, day)

    @property
    def password(self) -> str:
        return f"sim-password-{self.index:06d}"


@dataclass(frozen=True)
class Population:
    people: tuple[Person, ...]

    @property
    def cross_border_users(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if p.cross_border_user)

    def acting_for(self, person: Person) -> Person:
        """Whoever does the person's citizen-side actions: their caregiver, if any."""
        return self.people[person.caregiver] if person.caregiver is not None else person

    def summary(self) -> dict[str, int]:
        return {
            "people": len(self.people),
            "cross_border_users": sum(p.cross_border_user for p in self.people),
            "not_joined": sum(not p.joined for p in self.people),
            "with_caregiver": sum(p.caregiver is not None for p in self.people),
            "with_private_provider": sum(p.private_provider is not None for p in self.people),
            "ehr_history_records": sum(len(p.history) for p in self.people),
        }


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; ``mean`` is small here)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def build_population(
    scenario: Scenario, policy: Policy, rng: random.Random, scale: float
) -> Population:
    """The people of ``scenario`` at ``scale``, drawn from ``rng``."""
    spec = scenario.population
    users = Scenario.scaled(spec.cross_border_users, scale)
    others = Scenario.scaled(spec.other_people, scale)
    private = sorted(
        i.id
        for i in policy.institutions.values()
        if i.region is Region.HONG_KONG and i.kind is not InstitutionKind.PUBLIC
    )
    public = sorted(
        i.id
        for i in policy.institutions.values()
        if i.region is Region.HONG_KONG and i.kind is InstitutionKind.PUBLIC
    )
    providers = _Providers(private, public or private)
    people = [_person(n, n < users, scenario, rng, providers) for n in range(users + others)]
    _assign_caregivers(people, scenario, rng)
    return Population(tuple(people))


@dataclass(frozen=True)
class _Providers:
    """The Hong Kong institutions people see: private ones, and public ones (or, with
    none, the private ones) that wrote most of their history."""

    private: list[str]
    public: list[str]


def _person(
    index: int,
    cross_border_user: bool,
    scenario: Scenario,
    rng: random.Random,
    providers: _Providers,
) -> Person:
    spec = scenario.population
    private = providers.private
    name = f"{rng.choice(SURNAMES)} {rng.choice(SYLLABLES)} {rng.choice(SYLLABLES)}"
    dob = _date_of_birth(rng, spec.ages, scenario)
    joined = rng.random() >= spec.not_joined_share
    provider = (
        rng.choice(private) if private and rng.random() < spec.private_provider_share else None
    )
    consent = None
    if provider is not None and rng.random() < spec.private_consent_share:
        consent = "one_year" if rng.random() < spec.one_year_consent_share else "indefinite"
    history = _history(rng, scenario, dob, providers.public, provider)
    return Person(index, name, dob, joined, cross_border_user, provider, consent, history)


def _date_of_birth(rng: random.Random, bands: tuple[AgeBand, ...], scenario: Scenario) -> date:
    band = rng.choices(bands, weights=[b.weight for b in bands])[0]
    age = rng.randint(band.low, band.high)
    born = shift_years(scenario.end, -age) - timedelta(days=rng.randint(1, 364))
    return min(born, scenario.start - timedelta(days=60))  # born before the timeline


def _history(
    rng: random.Random,
    scenario: Scenario,
    dob: date,
    public: list[str],
    provider: str | None,
) -> tuple[HistoryRecord, ...]:
    spec = scenario.population
    first = max(shift_years(scenario.start, -spec.history_years), dob + timedelta(days=1))
    span = (scenario.start - first).days
    if span < 1:
        return ()
    records = []
    for _ in range(poisson(rng, spec.ehr_records_per_person)):
        day = first + timedelta(days=rng.randrange(span))
        category = rng.choices(
            [c for c, _ in EHR_CATEGORIES], weights=[w for _, w in EHR_CATEGORIES]
        )[0]
        use_public = provider is None or rng.random() < PUBLIC_SHARE_OF_HISTORY
        institution = public_provider(rng, public) if use_public or not provider else provider
        records.append(HistoryRecord(day, category, institution))
    return tuple(sorted(records, key=lambda r: (r.clinical_date, r.category.value)))


def public_provider(rng: random.Random, public: list[str]) -> str:
    """HA most of the time, otherwise any public provider (DH)."""
    if "ha" in public and rng.random() < HA_SHARE_OF_PUBLIC:
        return "ha"
    return rng.choice(public)


def _assign_caregivers(people: list[Person], scenario: Scenario, rng: random.Random) -> None:
    """Children (under 16 on ``start``) get a parent; some of the very old a relative.
    Caregivers are adults of the population (16 to 64 on ``start``)."""
    spec = scenario.caregivers
    start = scenario.start
    adults = [p.index for p in people if 16 <= p.age_on(start) < 65]
    if not adults:
        return
    for n, person in enumerate(people):
        age = person.age_on(start)
        if age < 16:
            needs = rng.random() < spec.children_share
        elif age >= spec.elderly_from_age:
            needs = rng.random() < spec.elderly_share
        else:
            continue
        if not needs:
            continue
        caregiver = rng.choice([a for a in adults if a != person.index] or adults)
        until = None
        if rng.random() < spec.one_year_share:
            until = shift_years(start, 1)
        people[n] = replace(person, caregiver=caregiver, caregiver_until=until)
