"""Policy files: the real system's facts and the "what if" variants, as validated data.

A policy file is TOML (schema in ``policies/default.toml``, which documents every key).
:func:`load_policy` validates it completely and raises :class:`PolicyError` naming the
file and the exact key (``policies/x.toml: institutions[3].designated_on: not a date:
'2024-13-01'``). Unknown keys are errors.

A variant may start with ``extends = "default.toml"`` (a path relative to itself): the
base is loaded first, then the variant's tables are merged into it key by key, and any
other value (a string, a number, an array such as ``institutions``) replaces the base's.
Chains are allowed; cycles are errors.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from policies.dates import hk_date, shift_years
from policies.vocabulary import Category, ConsentKind, InstitutionKind, Profession, Region

E = TypeVar("E", bound=StrEnum)
V = TypeVar("V")
_MEMO_LIMIT = 4096


class PolicyError(ValueError):
    """A policy file that cannot be used. The message names the file and the key."""


# --- the loaded policy -------------------------------------------------------------------


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

    def is_designated(self, day: date) -> bool:
        return self.designated_on is not None and self.designated_on <= day

    def is_radiology_depositor(self, day: date) -> bool:
        return self.radiology_depositor_from is not None and self.radiology_depositor_from <= day


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
    """Immutable values :mod:`policies.engine` derives from this policy (visible sets,
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


# --- files -------------------------------------------------------------------------------

POLICY_DIR = Path(__file__).resolve().parent


def default_policy_path() -> Path:
    """``policies/default.toml`` as shipped in the package."""
    return POLICY_DIR / "default.toml"


def bundled_policy_paths() -> tuple[Path, ...]:
    """Every policy file shipped in the package: the default first, then the variants."""
    variants = sorted(p for p in POLICY_DIR.glob("*.toml") if p.name != "default.toml")
    return (default_policy_path(), *variants)


def load_policy(path: str | Path) -> Policy:
    """Read, merge (``extends``) and validate a policy file."""
    label = str(path)
    data = _read_merged(Path(path), label, seen=())
    return _build(_Checker(label), data)


def _read_merged(path: Path, label: str, seen: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise PolicyError(f"{label}: extends: cycle: {chain}")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise PolicyError(f"{label}: no such policy file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{label}: not valid TOML: {exc}") from None
    _check_keys(_Checker(label), data)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        _Checker(label).fail("extends", f"not a string: {base_name!r}")
    base_path = path.parent / base_name
    base = _read_merged(base_path, f"{label} (extends {base_path})", (*seen, resolved))
    return _merge(base, data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --- schema ------------------------------------------------------------------------------

_TOP_KEYS = frozenset(
    {
        "extends",
        "name",
        "description",
        "lookback_years",
        "sharable_categories",
        "durations",
        "radiology",
        "break_glass",
        "general_categories",
        "timeline",
        "institutions",
    }
)
_TABLE_KEYS: dict[str, frozenset[str]] = {
    "durations": frozenset(
        {
            "one_year_consent_years",
            "cross_border_authorisation_days",
            "radiology_authorisation_days",
            "restricted_grant_minutes",
            "viewing_session_minutes",
        }
    ),
    "radiology": frozenset({"categories"}),
    "break_glass": frozenset({"enabled", "min_justification_length", "minutes", "professions"}),
    "general_categories": frozenset(p.value for p in Profession),
}
_TIMELINE_SETTINGS = frozenset(
    {"cross_border_min_age", "cross_border_processing_hours", "deposit_requires_sharing_consent"}
)
_ARRAY_KEYS: dict[str, frozenset[str]] = {
    "timeline": frozenset({"starts_on", "note"}) | _TIMELINE_SETTINGS,
    "institutions": frozenset(
        {
            "id",
            "name",
            "region",
            "kind",
            "implied_sharing",
            "designated_on",
            "radiology_depositor_from",
        }
    ),
}
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")


class _Checker:
    """Typed reads from TOML data; every failure names ``file: key``."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key: str, message: str) -> NoReturn:
        raise PolicyError(f"{self.label}: {key}: {message}")

    def get(self, table: Mapping[str, Any], prefix: str, key: str) -> Any:
        if key not in table:
            self.fail(prefix + key, "missing")
        return table[key]

    def string(self, table: Mapping[str, Any], prefix: str, key: str) -> str:
        value = self.get(table, prefix, key)
        if not isinstance(value, str) or not value.strip():
            self.fail(prefix + key, f"not a non-empty string: {value!r}")
        return value

    def integer(self, table: Mapping[str, Any], prefix: str, key: str, minimum: int = 0) -> int:
        value = self.get(table, prefix, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(prefix + key, f"not an integer: {value!r}")
        if value < minimum:
            self.fail(prefix + key, f"must be at least {minimum}: {value!r}")
        return value

    def boolean(self, table: Mapping[str, Any], prefix: str, key: str) -> bool:
        value = self.get(table, prefix, key)
        if not isinstance(value, bool):
            self.fail(prefix + key, f"not a boolean (true/false): {value!r}")
        return value

    def day(self, table: Mapping[str, Any], prefix: str, key: str) -> date:
        value = self.get(table, prefix, key)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(prefix + key, f"not a date: {value!r}")

    def member(self, enum: type[E], value: Any, key: str) -> E:
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(m.value for m in enum)
            self.fail(key, f"not a {_words(enum)}: {value!r} (one of: {allowed})")

    def members(
        self, enum: type[E], table: Mapping[str, Any], prefix: str, key: str
    ) -> frozenset[E]:
        values = self.get(table, prefix, key)
        if not isinstance(values, list):
            self.fail(prefix + key, f"not an array: {values!r}")
        return frozenset(self.member(enum, v, f"{prefix}{key}[{n}]") for n, v in enumerate(values))

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = self.get(data, "", key)
        if not isinstance(value, dict):
            self.fail(key, f"not a table: {value!r}")
        return value

    def array_of_tables(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = self.get(data, "", key)
        if not isinstance(value, list) or not value:
            self.fail(key, "not a non-empty array of tables")
        for n, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(f"{key}[{n}]", f"not a table: {item!r}")
        return value


def _words(enum: type[StrEnum]) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", enum.__name__).lower()


def _check_keys(check: _Checker, data: Mapping[str, Any]) -> None:
    """Reject unknown keys (before merging, so the message names the file that has them)."""
    _unknown(check, data, _TOP_KEYS, "")
    for key, allowed in _TABLE_KEYS.items():
        if isinstance(data.get(key), dict):
            _unknown(check, data[key], allowed, key + ".")
    for key, allowed in _ARRAY_KEYS.items():
        items = data.get(key)
        if isinstance(items, list):
            for n, item in enumerate(items):
                if isinstance(item, dict):
                    _unknown(check, item, allowed, f"{key}[{n}].")


def _unknown(
    check: _Checker, table: Mapping[str, Any], allowed: Iterable[str], prefix: str
) -> None:
    allowed = frozenset(allowed)
    for key in table:
        if key not in allowed:
            check.fail(prefix + key, "unknown key")


# --- building ----------------------------------------------------------------------------


def _build(check: _Checker, data: Mapping[str, Any]) -> Policy:
    return Policy(
        name=check.string(data, "", "name"),
        description=check.string(data, "", "description"),
        path=check.label,
        lookback_years=check.integer(data, "", "lookback_years"),
        sharable_categories=check.members(Category, data, "", "sharable_categories"),
        radiology_categories=check.members(
            Category, check.table(data, "radiology"), "radiology.", "categories"
        ),
        institutions=MappingProxyType(_institutions(check, data)),
        general_categories=MappingProxyType(_general_categories(check, data)),
        durations=_durations(check, check.table(data, "durations")),
        timeline=_timeline(check, check.array_of_tables(data, "timeline")),
        break_glass=_break_glass(check, check.table(data, "break_glass")),
    )


def _durations(check: _Checker, table: Mapping[str, Any]) -> Durations:
    p = "durations."
    return Durations(
        one_year_consent_years=check.integer(table, p, "one_year_consent_years", 1),
        cross_border_authorisation=timedelta(
            days=check.integer(table, p, "cross_border_authorisation_days", 1)
        ),
        radiology_authorisation=timedelta(
            days=check.integer(table, p, "radiology_authorisation_days", 1)
        ),
        restricted_grant=timedelta(minutes=check.integer(table, p, "restricted_grant_minutes", 1)),
        viewing_session=timedelta(minutes=check.integer(table, p, "viewing_session_minutes", 1)),
    )


def _break_glass(check: _Checker, table: Mapping[str, Any]) -> BreakGlassRule:
    p = "break_glass."
    return BreakGlassRule(
        enabled=check.boolean(table, p, "enabled"),
        min_justification_length=check.integer(table, p, "min_justification_length", 1),
        duration=timedelta(minutes=check.integer(table, p, "minutes", 1)),
        professions=check.members(Profession, table, p, "professions"),
    )


def _general_categories(check: _Checker, data: Mapping[str, Any]) -> dict[str, frozenset[Category]]:
    table = check.table(data, "general_categories")
    return {
        str(check.member(Profession, name, f"general_categories.{name}")): check.members(
            Category, table, "general_categories.", name
        )
        for name in table
    }


def _timeline(check: _Checker, items: list[Mapping[str, Any]]) -> tuple[TimelineEntry, ...]:
    """Each entry changes some rules from its date on; the first must set every rule."""
    entries: list[TimelineEntry] = []
    for n, item in enumerate(items):
        p = f"timeline[{n}]."
        starts_on = check.day(item, p, "starts_on")
        if entries and starts_on <= entries[-1].starts_on:
            check.fail(p + "starts_on", f"not after the previous entry's: {starts_on}")
        if not _TIMELINE_SETTINGS & item.keys():
            check.fail(p.rstrip("."), "sets no rule")

        def sets(key: str) -> bool:
            return key in item or not entries  # noqa: B023 (read at once, in this iteration)

        entries.append(
            TimelineEntry(
                starts_on=starts_on,
                cross_border_min_age=check.integer(item, p, "cross_border_min_age")
                if sets("cross_border_min_age")
                else entries[-1].cross_border_min_age,
                cross_border_processing=timedelta(
                    hours=check.integer(item, p, "cross_border_processing_hours")
                )
                if sets("cross_border_processing_hours")
                else entries[-1].cross_border_processing,
                deposit_requires_sharing_consent=check.boolean(
                    item, p, "deposit_requires_sharing_consent"
                )
                if sets("deposit_requires_sharing_consent")
                else entries[-1].deposit_requires_sharing_consent,
                note=check.string(item, p, "note") if "note" in item else "",
            )
        )
    return tuple(entries)


def _institutions(check: _Checker, data: Mapping[str, Any]) -> dict[str, Institution]:
    institutions: dict[str, Institution] = {}
    for n, item in enumerate(check.array_of_tables(data, "institutions")):
        institution = _institution(check, item, f"institutions[{n}].")
        if institution.id in institutions:
            check.fail(f"institutions[{n}].id", f"duplicate id: {institution.id!r}")
        institutions[institution.id] = institution
    return institutions


def _institution(check: _Checker, item: Mapping[str, Any], p: str) -> Institution:
    ident = check.string(item, p, "id")
    if not _ID.match(ident):
        check.fail(p + "id", f"not a snake_case id: {ident!r}")
    region = check.member(Region, check.get(item, p, "region"), p + "region")
    implied = check.boolean(item, p, "implied_sharing") if "implied_sharing" in item else False
    designated = check.day(item, p, "designated_on") if "designated_on" in item else None
    radiology = (
        check.day(item, p, "radiology_depositor_from")
        if "radiology_depositor_from" in item
        else None
    )
    if region is Region.MAINLAND:
        if designated is None:
            check.fail(p + "designated_on", "missing (required for a mainland institution)")
        if implied:
            check.fail(p + "implied_sharing", "only a hong_kong institution can hold it")
        if radiology is not None and radiology < designated:
            check.fail(p + "radiology_depositor_from", f"before designated_on: {radiology}")
    else:
        for key in ("designated_on", "radiology_depositor_from"):
            if key in item:
                check.fail(p + key, "only a mainland institution can have it")
    return Institution(
        id=ident,
        name=check.string(item, p, "name"),
        region=region,
        kind=check.member(InstitutionKind, check.get(item, p, "kind"), p + "kind"),
        implied_sharing=implied,
        designated_on=designated,
        radiology_depositor_from=radiology,
    )
