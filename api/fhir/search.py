"""Search parameters: what each search takes, and what is refused — never silently
ignored. ``_total``, ``_summary`` (``count`` above all: it would count what the caller may
not see), ``_include`` / ``_revinclude``, ``_has`` and chained parameters get an
``OperationOutcome`` with their own code; any other parameter the search does not list is
``unsupported_parameter``. Paging is by an opaque ``_cursor`` the ``next`` link carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from starlette.datastructures import QueryParams

from api.fhir.outcome import unsupported
from api.problems import Problem

MAX_COUNT = 200
DEFAULT_COUNT = 50
_REFUSED = {
    "_total": ("total_not_supported", "Bundle.total is never sent (it would count hidden data)."),
    "_summary": ("summary_not_supported", "_summary is not supported (no counts, no summaries)."),
    "_include": ("include_not_supported", "_include is not supported."),
    "_revinclude": ("include_not_supported", "_revinclude is not supported."),
    "_has": ("has_not_supported", "Reverse chaining (_has) is not supported."),
    "_contained": ("contained_not_supported", "_contained is not supported."),
}
_DATES = frozenset({"date", "started"})  # ImagingStudy's date is "started" in FHIR
_DATE = re.compile(r"^(ge|le|eq)?(\d{4}-\d{2}-\d{2})$")
_PREFIX = re.compile(r"^[a-z]{2}\d")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def invalid(code: str, detail: str) -> Problem:
    return Problem(400, code, "Invalid search", detail)


@dataclass
class Search:
    """A search's parameters once checked: one value each, except ``date``."""

    values: dict[str, str] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)
    last_updated: list[str] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    cursor: str | None = None


def _refuse_name(name: str) -> None:
    base = name.split(":", 1)[0]
    if base in _REFUSED:
        raise unsupported(*_REFUSED[base])
    if "." in name:
        raise unsupported("chained_search_not_supported", "Chained parameters are not supported.")
    if ":" in name:
        raise unsupported("modifier_not_supported", "Search modifiers are not supported.")


def _count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
        raise invalid("invalid_count", f"_count is a whole number from 1 to {MAX_COUNT}.")
    return int(value)


def parse(params: QueryParams, allowed: frozenset[str]) -> Search:
    """The checked parameters of one search, or the first problem found."""
    search = Search()
    for name, value in params.multi_items():
        _refuse_name(name)
        if name == "_count":
            search.count = _count(value)
        elif name == "_cursor":
            search.cursor = value[:200]
        elif name not in allowed:
            raise unsupported("unsupported_parameter", f"This search does not take {name}.")
        elif name in _DATES:
            search.dates.append(value)
        elif name == "_lastUpdated":
            search.last_updated.append(value)
        elif name in search.values:
            raise invalid("repeated_parameter", f"{name} may be given once.")
        else:
            search.values[name] = value
    return search


def date_range(values: list[str]) -> tuple[date | None, date | None]:
    """``date`` values (``ge``, ``le``, ``eq`` or no prefix, full dates) as (since, until)."""
    since: date | None = None
    until: date | None = None
    for value in values[:2] if len(values) <= 2 else _too_many():
        match = _DATE.match(value)
        if match is None:
            if _PREFIX.match(value):
                raise invalid("invalid_date_prefix", "date prefixes are ge, le or eq.")
            raise invalid("invalid_date", "date is [ge|le|eq]YYYY-MM-DD.")
        try:
            day = date.fromisoformat(match[2])
        except ValueError:
            raise invalid("invalid_date", "date is [ge|le|eq]YYYY-MM-DD.") from None
        prefix = match[1] or "eq"
        if prefix in ("ge", "eq"):
            since = day if since is None else max(since, day)
        if prefix in ("le", "eq"):
            until = day if until is None else min(until, day)
    return since, until


_UPDATED = re.compile(r"^(ge|le)?(\d{4}-\d{2}-\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))?$")


def _instant(day: str, clock: str | None, prefix: str, zone: tzinfo) -> datetime:
    """A ``_lastUpdated`` value as an instant: a bare date covers its whole day (in
    ``zone``), from its first instant (``ge``) to its last (``le``)."""
    try:
        if clock is not None:
            return datetime.fromisoformat(day + clock.replace("Z", "+00:00"))
        start = datetime.combine(date.fromisoformat(day), time(), tzinfo=zone)
    except ValueError:
        raise invalid(
            "invalid_date", "_lastUpdated is [ge|le]YYYY-MM-DD[Thh:mm:ss+zz:zz]."
        ) from None
    return start if prefix == "ge" else start + timedelta(days=1) - timedelta(microseconds=1)


def updated_range(values: list[str], zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    """``_lastUpdated`` values (``ge``, ``le`` or none for both; at most twice) as the
    (from, to) instants, inclusive."""
    low: datetime | None = None
    high: datetime | None = None
    for value in values[:2] if len(values) <= 2 else _too_many():
        match = _UPDATED.match(value)
        if match is None:
            if _PREFIX.match(value) and value[:2] not in ("ge", "le"):
                raise invalid("invalid_date_prefix", "_lastUpdated prefixes are ge or le.")
            raise invalid("invalid_date", "_lastUpdated is [ge|le]YYYY-MM-DD[Thh:mm:ss+zz:zz].")
        prefix = match[1] or ""
        if prefix in ("ge", ""):
            at = _instant(match[2], match[3], "ge", zone)
            low = at if low is None else max(low, at)
        if prefix in ("le", ""):
            at = _instant(match[2], match[3], "le", zone)
            high = at if high is None else min(high, at)
    return low, high


def _too_many() -> list[str]:
    raise invalid("repeated_parameter", "date may be given at most twice.")


def reference(value: str, resource_type: str) -> str:
    """The id of ``Patient/x`` or ``x``."""
    if value.startswith(f"{resource_type}/"):
        value = value[len(resource_type) + 1 :]
    if not _ID.match(value):
        raise invalid("invalid_reference", f"Not a {resource_type} reference.")
    return value


def token(value: str, system: str) -> str:
    """The code of ``system|code`` or ``code``."""
    if "|" in value:
        given, value = value.split("|", 1)
        if given and given != system:
            raise invalid("unknown_code_system", f"Codes are of {system}.")
    return value
