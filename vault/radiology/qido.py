"""QIDO-RS searches and WADO-RS metadata over a person's study index, as pure functions:
a query parsed from its parameters (:func:`parse_query`), the instances a caller may see
(as :mod:`vault.radiology.search` found them) grouped into studies, series or instances,
matched, ordered, paged, and answered as DICOM JSON (:mod:`vault.radiology.dicom_json`).

What a search matches on (PS3.18 §10.6, PS3.4 C.2.2.2): ``StudyDate`` as a date or a range
(``YYYYMMDD-YYYYMMDD``, either end open), ``ModalitiesInStudy`` (any of a comma-separated
list), UIDs (a comma-separated list), and the other keys by single value with the ``*``
and ``?`` wildcards, case-insensitively for names. Keys are keywords or tags. An unknown
key, an unknown ``includefield``, a malformed date or a ``limit`` over :data:`MAX_LIMIT`
is refused (:class:`InvalidSearch`, a stable ``code``): a silently ignored filter would
answer more than the caller asked for.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from vault.core.errors import VaultError
from vault.radiology.dicom_json import CATALOG, Level, at_levels, attribute, dataset_json

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_DATE_RANGE = re.compile(r"^(\d{8})?-(\d{8})?$")

# What each level answers without includefield (PS3.18 Table 10.6.3-3 and -4, and what
# OHIF lists), and what may be matched on.
RETURNED: dict[Level, tuple[str, ...]] = {
    Level.STUDY: (
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "PatientName",
        "PatientID",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    Level.SERIES: (
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "NumberOfSeriesRelatedInstances",
    ),
    Level.INSTANCE: ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns"),
}
MATCHABLE: dict[Level, frozenset[str]] = {
    Level.STUDY: frozenset(
        {
            "StudyInstanceUID",
            "StudyDate",
            "AccessionNumber",
            "StudyID",
            "StudyDescription",
            "PatientName",
            "PatientID",
            "ModalitiesInStudy",
        }
    ),
    Level.SERIES: frozenset({"SeriesInstanceUID", "Modality", "SeriesNumber"}),
    Level.INSTANCE: frozenset({"SOPInstanceUID", "SOPClassUID", "InstanceNumber"}),
}
_UID_LISTS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"})
_IGNORED = frozenset({"fuzzymatching"})  # accepted; matching is never fuzzy here


class InvalidSearch(VaultError):
    """A QIDO-RS query the vault cannot answer as asked. The message names the key, never
    a value."""

    code = "invalid_search"


class UnknownIncludeField(InvalidSearch):
    code = "unknown_includefield"


class InvalidStudyDate(InvalidSearch):
    code = "invalid_study_date"


class LimitTooLarge(InvalidSearch):
    code = "limit_too_large"


class InvalidPaging(InvalidSearch):
    code = "invalid_paging"


class UnsupportedSearchKey(InvalidSearch):
    code = "unsupported_search_key"


@dataclass(frozen=True)
class SearchQuery:
    """One QIDO-RS query at one level."""

    level: Level
    matches: dict[str, str] = field(default_factory=dict)
    study_dates: tuple[date | None, date | None] | None = None
    include: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_query(level: Level, parameters: Iterable[tuple[str, str]]) -> SearchQuery:
    """The query of a QIDO-RS request's parameters (in order, repeats kept)."""
    matches: dict[str, str] = {}
    include: list[str] = []
    paging = {"limit": str(DEFAULT_LIMIT), "offset": "0"}
    for name, value in parameters:
        if name in paging:
            paging[name] = value
        elif name == "includefield":
            include.extend(_included(value))
        elif name not in _IGNORED:
            known = attribute(name)
            if known is None or known.keyword not in MATCHABLE[level] | _parents(level):
                raise UnsupportedSearchKey(f"{name} is not a search key here")
            if value:  # a zero-length value matches everything (universal matching)
                matches[known.keyword] = value
    dates = matches.pop("StudyDate", None)
    return SearchQuery(
        level,
        matches,
        None if dates is None else parse_dates(dates),
        tuple(dict.fromkeys(include)),
        _bounded(paging["limit"], "limit", low=1, high=MAX_LIMIT),
        _bounded(paging["offset"], "offset", low=0, high=None),
    )


def _parents(level: Level) -> frozenset[str]:
    """Keys of the levels above that a lower search may also match on (PS3.18 §10.6.1.2)."""
    if level is Level.INSTANCE:
        return MATCHABLE[Level.SERIES]
    return frozenset()


def _included(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if "all" in names:
        return [k for k in CATALOG]
    found = []
    for name in names:
        known = attribute(name)
        if known is None:
            raise UnknownIncludeField(f"includefield {name[:20]!r} is not an attribute served")
        found.append(known.keyword)
    return found


def _bounded(value: str, name: str, *, low: int, high: int | None) -> int:
    """``value`` as an integer in ``[low, high]``: ASCII digits only (``int`` would take
    other scripts' digits, and refuses thousands of digits with a ValueError)."""
    digits = value.isascii() and value.isdigit()
    huge = digits and len(value.lstrip("0")) > 18
    number = int(value) if digits and not huge else -1
    if huge and high is None:
        raise InvalidPaging(f"{name} is too large")
    if number < low and not huge:
        raise InvalidPaging(f"{name} is an integer of at least {low}")
    if high is not None and (huge or number > high):
        raise LimitTooLarge(f"limit is at most {high}")
    return number


def parse_dates(value: str) -> tuple[date | None, date | None]:
    """``YYYYMMDD``, or a range ``YYYYMMDD-YYYYMMDD`` with either end left open."""
    single = re.fullmatch(r"\d{8}", value)
    ranged = _DATE_RANGE.fullmatch(value)
    if single is None and (ranged is None or value == "-"):
        raise InvalidStudyDate("StudyDate is YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    first, last = (value, value) if single else ranged.groups()  # type: ignore[union-attr]
    low, high = _date(first), _date(last)
    if low is not None and high is not None and low > high:
        raise InvalidStudyDate("StudyDate's range ends before it starts")
    return low, high


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise InvalidStudyDate("StudyDate is not a calendar date") from None


# -- answering ----------------------------------------------------------------------------

Instance = dict[str, Any]  # the attributes of one instance, every level's, by keyword


def _first(instance: Instance, keyword: str) -> str:
    value = instance.get(keyword)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _matches(instance: Instance, keyword: str, wanted: str) -> bool:
    have = instance.get(keyword)
    values = [str(v) for v in (have if isinstance(have, list) else [have]) if v is not None]
    if keyword in _UID_LISTS or keyword == "ModalitiesInStudy":
        return bool(set(values) & {w.strip() for w in wanted.split(",")})
    if CATALOG[keyword].vr == "PN":
        return any(fnmatch.fnmatchcase(v.casefold(), wanted.casefold()) for v in values)
    return any(fnmatch.fnmatchcase(v, wanted) for v in values)


def _in_dates(instance: Instance, dates: tuple[date | None, date | None] | None) -> bool:
    if dates is None:
        return True
    text = _first(instance, "StudyDate")
    if not re.fullmatch(r"\d{8}", text):
        return False
    low, high = dates
    day = text[:4] + "-" + text[4:6] + "-" + text[6:]
    return (low is None or low.isoformat() <= day) and (high is None or day <= high.isoformat())


def _groups(instances: Sequence[Instance], key: str) -> dict[str, list[Instance]]:
    grouped: dict[str, list[Instance]] = {}
    for item in instances:
        grouped.setdefault(_first(item, key), []).append(item)
    return grouped


def studies(instances: Sequence[Instance]) -> list[Instance]:
    """One row per study: its own attributes and those computed over ``instances``."""
    rows = []
    for members in _groups(instances, "StudyInstanceUID").values():
        row = {k: v for k, v in members[0].items() if CATALOG[k].level is Level.STUDY}
        modalities = sorted({_first(m, "Modality") for m in members} - {""})
        row["ModalitiesInStudy"] = modalities
        row["NumberOfStudyRelatedSeries"] = len(_groups(members, "SeriesInstanceUID"))
        row["NumberOfStudyRelatedInstances"] = len(members)
        rows.append(row)
    rows.sort(key=lambda r: (_first(r, "StudyDate"), _first(r, "StudyInstanceUID")), reverse=True)
    return rows


def series(instances: Sequence[Instance]) -> list[Instance]:
    """One row per series (with its study's UID)."""
    rows = []
    for members in _groups(instances, "SeriesInstanceUID").values():
        keep = (Level.SERIES,)
        row = {k: v for k, v in members[0].items() if CATALOG[k].level in keep}
        row["StudyInstanceUID"] = members[0].get("StudyInstanceUID")
        row["NumberOfSeriesRelatedInstances"] = len(members)
        rows.append(row)
    rows.sort(key=lambda r: (_number(r, "SeriesNumber"), _first(r, "SeriesInstanceUID")))
    return rows


def _number(row: Instance, keyword: str) -> int:
    text = _first(row, keyword)
    return int(text) if text.lstrip("-").isdigit() else 2**31


def ordered_instances(instances: Sequence[Instance]) -> list[Instance]:
    return sorted(
        instances,
        key=lambda r: (
            _first(r, "SeriesInstanceUID"),
            _number(r, "InstanceNumber"),
            _first(r, "SOPInstanceUID"),
        ),
    )


def answer(query: SearchQuery, instances: Sequence[Instance]) -> list[dict[str, Any]]:
    """The DICOM JSON answer of ``query`` over the instances the caller may see."""
    wanted = [m for m in instances if _in_dates(m, query.study_dates)]
    if query.level is Level.STUDY:  # study keys match the study rows (ModalitiesInStudy)
        rows = [r for r in studies(wanted) if _all(r, query.matches)]
    else:
        wanted = [m for m in wanted if _all(m, query.matches)]
        rows = series(wanted) if query.level is Level.SERIES else ordered_instances(wanted)
    shown = RETURNED[query.level] + query.include + _ids(query.level)
    page = rows[query.offset : query.offset + query.limit]
    required = dict.fromkeys(RETURNED[query.level])  # answered even when empty (PS3.18)
    return [dataset_json({**required, **row}, tuple(dict.fromkeys(shown))) for row in page]


def _all(instance: Instance, matches: dict[str, str]) -> bool:
    return all(_matches(instance, k, v) for k, v in matches.items())


def _ids(level: Level) -> tuple[str, ...]:
    """The UIDs of the levels above, which every row carries (PS3.18 §10.6.3.3.1)."""
    return {
        Level.STUDY: (),
        Level.SERIES: ("StudyInstanceUID",),
        Level.INSTANCE: ("StudyInstanceUID", "SeriesInstanceUID"),
    }[level]


def metadata(instances: Sequence[Instance]) -> list[dict[str, Any]]:
    """WADO-RS metadata: every instance with every attribute the index holds."""
    every = at_levels(Level.STUDY, Level.SERIES, Level.INSTANCE)
    computed = {"ModalitiesInStudy", "NumberOfStudyRelatedSeries"}
    keywords = tuple(k for k in every if k not in computed and "Related" not in k)
    return [dataset_json(item, keywords) for item in ordered_instances(instances)]
