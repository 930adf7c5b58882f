"""The loaded policy: the registry, the profession table, the durations, the timeline and
the break-glass rule, as frozen data with the lookups the rules need.

:func:`policies.policy_file.load_policy` builds it from a TOML file; nothing here reads a
file or a clock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from policies.dates import hk_date, shift_years
from policies.vocabulary import Category, ConsentKind, InstitutionKind, Profession, Region

V = TypeVar("V")
_MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Institution:
    """One registered institution. Mainland institutions have a designation date; the
    radiology depositors also the date they may start depositing."""

    id: str
    name: str
    region: Region
    kind: InstitutionKind
    implied_sharing: bool = False
    designated_on: date | None = None
    radiology_depositor_from: date | None = None
    # Programmes around the vault (read by the simulator, never by the rules): the Elderly
    # Health Care Voucher GBA pilot's service points here, and the HA GBA patient pilot.
    voucher_from: date | None = None
    voucher_service_points: int = 0
    ha_pilot_from: date | None = None

    def is_designated(self, day: date) -> bool:
        return self.designated_on is not None and self.designated_on <= day

    def is_radiology_depositor(self, day: date) -> bool:
        return self.radiology_depositor_from is not None and self.radiology_depositor_from <= day

    def takes_vouchers(self, day: date) -> bool:
        return self.voucher_from is not None and self.voucher_from <= day


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """The rules in force from ``starts_on`` (a Hong Kong date) until the next entry."""

    starts_on: date
    cross_border_min_age: int
    cross_border_processing: timedelta
    deposit_requires_sharing_consent: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class Durations:
    """How long consents and grants last when created (the store applies these)."""

    one_year_consent_years: int
    cross_border_authorisation: timedelta
    radiology_authorisation: timedelta
    restricted_grant: timedelta
    viewing_session: timedelta


@dataclass(frozen=True, slots=True)
class BreakGlassRule:
    """The emergency rule (enabled only in ``break-glass.toml``): who may invoke it, how
    long a written justification must be, and how long one emergency access lasts."""

    enabled: bool
    min_justification_length: int
    duration: timedelta
    professions: frozenset[Profession]


@dataclass(frozen=True, eq=False)
class Policy:
    """A loaded, validated policy with its lookup tables precomputed."""

    name: str
    description: str
    path: str
    lookback_years: int
    sharable_categories: frozenset[Category]
    radiology_categories: frozenset[Category]
    institutions: Mapping[str, Institution]
    general_categories: Mapping[str, frozenset[Category]]
    durations: Durations
    timeline: tuple[TimelineEntry, ...]
    break_glass: BreakGlassRule
    _starts: tuple[date, ...] = field(init=False, repr=False)
    memo: dict[Hashable, Any] = field(init=False, repr=False, default_factory=dict)
    """Immutable values the rules (:mod:`policies.rules`) derive from this policy (visible sets,
    timeline lookups) and interns (identical answers), so that ``decide`` need not
    rebuild them. Never a cache of decisions: every call re-judges the facts (R8)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(e.starts_on for e in self.timeline))

    def remember(self, key: Hashable, value: V) -> V:
        """Store ``value`` in :attr:`memo` (bounded: cleared when full) and return it."""
        if len(self.memo) >= _MEMO_LIMIT:
            self.memo.clear()
        self.memo[key] = value
        return value

    def rules_on(self, day: date) -> TimelineEntry:
        """The timeline entry in force on Hong Kong date ``day`` (the first entry also
        covers every earlier day)."""
        index = bisect_right(self._starts, day) - 1
        return self.timeline[max(index, 0)]

    def visible_since(self, today: date) -> date:
        """The first clinical date a cross-border viewer may see on ``today``."""
        return shift_years(today, -self.lookback_years)

    def designated_institutions(self, day: date) -> tuple[Institution, ...]:
        return tuple(i for i in self.institutions.values() if i.is_designated(day))

    # Durations, for the store to stamp ``expires_at`` on new facts.
    def sharing_consent_expires_at(
        self, kind: ConsentKind, granted_at: datetime
    ) -> datetime | None:
        """``one_year``: the same instant a calendar year later (29 Feb -> 28 Feb)."""
        if kind is ConsentKind.INDEFINITE:
            return None
        return shift_years(granted_at, self.durations.one_year_consent_years)

    def cross_border_expires_at(self, issued_at: datetime) -> datetime:
        return issued_at + self.durations.cross_border_authorisation

    def cross_border_ready_at(self, issued_at: datetime) -> datetime:
        """When an authorisation becomes usable: after the processing delay in force on
        its Hong Kong issue date (72 h in the 2024 pilot, none since 24 Dec 2025)."""
        return issued_at + self.rules_on(hk_date(issued_at)).cross_border_processing

    def radiology_authorisation_expires_at(self, issued_at: datetime) -> datetime:
        return issued_at + self.durations.radiology_authorisation

    def restricted_grant_expires_at(self, confirmed_at: datetime) -> datetime:
        return confirmed_at + self.durations.restricted_grant

    def viewing_session_expires_at(
        self, opened_at: datetime, authorisation_expires_at: datetime
    ) -> datetime:
        return min(opened_at + self.durations.viewing_session, authorisation_expires_at)

    def break_glass_expires_at(self, started_at: datetime) -> datetime:
        return started_at + self.break_glass.duration
