"""The policy file's schema: the keys a file may have, typed reads whose every failure
names ``file: key``, and the :class:`~policies.policy.Policy` built from checked data.

Unknown keys are rejected per file, before ``extends`` merges them
(:func:`check_keys`); :func:`build_policy` then reads every value of the merged data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from policies.policy import BreakGlassRule, Durations, Institution, Policy, TimelineEntry
from policies.vocabulary import Category, InstitutionKind, Profession, Region

E = TypeVar("E", bound=StrEnum)


class PolicyError(ValueError):
    """A policy file that cannot be used. The message names the file and the key."""


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
            "voucher_from",
            "voucher_service_points",
            "ha_pilot_from",
        }
    ),
}
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")


class Checker:
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


def check_keys(check: Checker, data: Mapping[str, Any]) -> None:
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


def _unknown(check: Checker, table: Mapping[str, Any], allowed: Iterable[str], prefix: str) -> None:
    allowed = frozenset(allowed)
    for key in table:
        if key not in allowed:
            check.fail(prefix + key, "unknown key")


# --- building ----------------------------------------------------------------------------


def build_policy(check: Checker, data: Mapping[str, Any]) -> Policy:
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


def _durations(check: Checker, table: Mapping[str, Any]) -> Durations:
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


def _break_glass(check: Checker, table: Mapping[str, Any]) -> BreakGlassRule:
    p = "break_glass."
    return BreakGlassRule(
        enabled=check.boolean(table, p, "enabled"),
        min_justification_length=check.integer(table, p, "min_justification_length", 1),
        duration=timedelta(minutes=check.integer(table, p, "minutes", 1)),
        professions=check.members(Profession, table, p, "professions"),
    )


def _general_categories(check: Checker, data: Mapping[str, Any]) -> dict[str, frozenset[Category]]:
    table = check.table(data, "general_categories")
    return {
        str(check.member(Profession, name, f"general_categories.{name}")): check.members(
            Category, table, "general_categories.", name
        )
        for name in table
    }


def _timeline(check: Checker, items: list[Mapping[str, Any]]) -> tuple[TimelineEntry, ...]:
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


def _institutions(check: Checker, data: Mapping[str, Any]) -> dict[str, Institution]:
    institutions: dict[str, Institution] = {}
    for n, item in enumerate(check.array_of_tables(data, "institutions")):
        institution = _institution(check, item, f"institutions[{n}].")
        if institution.id in institutions:
            check.fail(f"institutions[{n}].id", f"duplicate id: {institution.id!r}")
        institutions[institution.id] = institution
    return institutions


def _institution(check: Checker, item: Mapping[str, Any], p: str) -> Institution:
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
        for key in _MAINLAND_ONLY:
            if key in item:
                check.fail(p + key, "only a mainland institution can have it")
    voucher_from, points, ha_pilot = _programmes(check, item, p)
    return Institution(
        id=ident,
        name=check.string(item, p, "name"),
        region=region,
        kind=check.member(InstitutionKind, check.get(item, p, "kind"), p + "kind"),
        implied_sharing=implied,
        designated_on=designated,
        radiology_depositor_from=radiology,
        voucher_from=voucher_from,
        voucher_service_points=points,
        ha_pilot_from=ha_pilot,
    )


_MAINLAND_ONLY = (
    "designated_on",
    "radiology_depositor_from",
    "voucher_from",
    "voucher_service_points",
    "ha_pilot_from",
)


def _programmes(
    check: Checker, item: Mapping[str, Any], p: str
) -> tuple[date | None, int, date | None]:
    """(voucher_from, voucher_service_points, ha_pilot_from): the programmes an
    institution serves (simulation data; the rules never read them)."""
    voucher_from = check.day(item, p, "voucher_from") if "voucher_from" in item else None
    points = 0
    if "voucher_service_points" in item:
        if voucher_from is None:
            check.fail(p + "voucher_service_points", "needs voucher_from")
        points = check.integer(item, p, "voucher_service_points", minimum=1)
    elif voucher_from is not None:
        points = 1
    ha_pilot = check.day(item, p, "ha_pilot_from") if "ha_pilot_from" in item else None
    return voucher_from, points, ha_pilot
