"""Calibration: each published figure a scenario is calibrated to, against what the run
simulated, as a table (``summary.json``'s ``"calibration"``, the terminal, and
``calibration.png``).

A scenario lists its figures as ``[[calibration]]`` tables (see
``sim/scenarios/default.toml``)::

    figure     what was published, in words
    published  the number (a count at --scale 1, or a share)
    unit       people, applications, records, authorisations, transactions, visits,
               HKD (counts and money: scaled by --scale), or share (not scaled); any
               other unit is refused
    as_of      the date the figure was published for
    measure    what of the run it is compared with (one of :data:`MEASURES`)

Each row: ``expected`` is ``published`` at the run's scale (counts multiplied and rounded
as the scenario's own counts are, shares as they are), ``simulated`` what the server
answered (successful calls and records, never the plan), ``ratio`` simulated / expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sim.simulation.scenario_reader import Reader, Table, shown

COUNT_UNITS = (
    "people",
    "applications",
    "records",
    "authorisations",
    "transactions",
    "visits",
    "HKD",
)
SHARE_UNIT = "share"


@dataclass(frozen=True)
class Published:
    figure: str
    published: float
    unit: str
    as_of: date
    measure: str

    def expected(self, scale: float) -> float:
        if self.unit == SHARE_UNIT:
            return self.published
        return max(1, round(self.published * scale)) if self.published > 0 else 0


Measure = Callable[[dict[str, Any], tuple[str, ...]], float]


def _ok(counts: dict[str, Any], kind: str) -> float:
    return float(counts.get("calls", {}).get(kind, {}).get("ok", 0))


def _pilot_share(counts: dict[str, Any], pilot: tuple[str, ...]) -> float:
    sources: dict[str, int] = counts.get("folder_records_by_source", {})
    total = sum(sources.values())
    return sum(n for iid, n in sources.items() if iid in pilot) / total if total else 0.0


def _programme(programme: str, figure: str) -> Measure:
    """A figure of a programme's ledger (``counts["programmes"]``; 0 if it did not run)."""

    def measure(counts: dict[str, Any], _: tuple[str, ...]) -> float:
        return float(counts.get("programmes", {}).get(programme, {}).get(figure, 0))

    return measure


def _service_share(service: str) -> Measure:
    def measure(counts: dict[str, Any], _: tuple[str, ...]) -> float:
        voucher = counts.get("programmes", {}).get("voucher", {})
        total = voucher.get("transactions", 0)
        return voucher.get("services", {}).get(service, 0) / total if total else 0.0

    return measure


# measure -> (unit it is in, how it is read from the run's counts and the scenario's
# pilot institutions)
MEASURES: dict[str, tuple[str, Measure]] = {
    "cross_border_users": (
        "people",
        lambda c, _: float(c.get("cross_border", {}).get("distinct_applicants", 0)),
    ),
    "applications": ("applications", lambda c, _: float(c["totals"]["applications"])),
    "folder_records": ("records", lambda c, _: float(c["totals"]["folder_uploads"])),
    "folder_pilot_share": (SHARE_UNIT, _pilot_share),
    "radiology_authorisations": ("authorisations", lambda c, _: _ok(c, "authorise_radiology")),
    "voucher_users": ("people", _programme("voucher", "users")),
    "voucher_transactions": ("transactions", _programme("voucher", "transactions")),
    "voucher_claimed": ("HKD", _programme("voucher", "claimed_hkd")),
    "voucher_chronic_follow_up_share": (SHARE_UNIT, _service_share("chronic_follow_up")),
    "voucher_preventive_share": (SHARE_UNIT, _service_share("preventive")),
    "ha_pilot_patients": ("people", _programme("ha_pilot", "patients")),
    "ha_pilot_visits": ("visits", _programme("ha_pilot", "visits")),
}


def read_calibration(reader: Reader, top: Table) -> tuple[Published, ...]:
    """The scenario's ``[[calibration]]`` tables (one line naming the key if wrong)."""
    values = reader.value(top, "calibration")
    key = top.key("calibration")
    if not isinstance(values, list):
        reader.fail(key, f"expected an array of tables, got {shown(values)}")
    figures = []
    for n, item in enumerate(values):
        if not isinstance(item, dict):
            reader.fail(f"{key}[{n}]", f"expected a table, got {shown(item)}")
        figures.append(_figure(reader, Table(item, f"{key}[{n}]")))
    return tuple(figures)


def _figure(reader: Reader, t: Table) -> Published:
    figure = reader.text(t, "figure")
    unit, measure = reader.text(t, "unit"), reader.text(t, "measure")
    if unit != SHARE_UNIT and unit not in COUNT_UNITS:
        reader.fail(
            t.key("unit"),
            f"cannot scale {unit!r} (counts: {', '.join(COUNT_UNITS)}; or {SHARE_UNIT!r})",
        )
    if measure not in MEASURES:
        reader.fail(t.key("measure"), f"unknown measure {measure!r} (one of {', '.join(MEASURES)})")
    if MEASURES[measure][0] != unit:
        reader.fail(t.key("unit"), f"{measure} is in {MEASURES[measure][0]}, not {unit!r}")
    published = (
        reader.share(t, "published") if unit == SHARE_UNIT else reader.number(t, "published")
    )
    as_of = reader.day(t, "as_of")
    reader.done(t)
    return Published(figure, published, unit, as_of, measure)


def calibration(
    figures: tuple[Published, ...], counts: dict[str, Any], pilot: tuple[str, ...], scale: float
) -> list[dict[str, Any]]:
    """The summary's ``calibration`` rows (see the module docstring)."""
    rows = []
    for f in figures:
        expected = f.expected(scale)
        simulated = round(MEASURES[f.measure][1](counts, pilot), 4)
        rows.append(
            {
                "figure": f.figure,
                "published": f.published,
                "unit": f.unit,
                "as_of": f.as_of.isoformat(),
                "expected": round(expected, 4),
                "simulated": simulated,
                "ratio": round(simulated / expected, 4) if expected else None,
            }
        )
    return rows
