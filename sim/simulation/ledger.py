"""The simulator's own ledger of the programmes around the vault: voucher claims at the
GBA service points and HA GBA patient pilot visits. A real vault never holds these (the
voucher scheme and the HA keep them); the simulator keeps them to calibrate against the
published figures.

Entries are planned up front (:mod:`sim.simulation.planning.programmes`) and *filed*
while the run goes: those dated before the timeline at set-up, the others on their day
(:class:`sim.simulation.driver.Driver`), so an interrupted run's ledger stops where the
run stopped. :meth:`Ledger.summary` counts them as of the programmes' figure dates.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Claim:
    """One voucher transaction: ``user`` is ``p<index>`` (a person of the population) or
    ``v<n>`` (an elderly user who only claims)."""

    day: date
    user: str
    institution_id: str
    service: str
    amount_hkd: int


@dataclass(frozen=True)
class PilotVisit:
    """One HA GBA patient pilot visit: ``patient`` is ``p<index>`` or ``h<n>``."""

    day: date
    patient: str
    institution_id: str


Entry = Claim | PilotVisit


class Ledger:
    """Filed entries (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.claims: list[Claim] = []
        self.visits: list[PilotVisit] = []

    def file(self, entries: Iterable[Entry]) -> None:
        with self._lock:
            for entry in entries:
                if isinstance(entry, Claim):
                    self.claims.append(entry)
                else:
                    self.visits.append(entry)

    def summary(self, voucher_as_of: date | None, pilot_as_of: date | None) -> dict[str, Any]:
        """``programmes`` of the summary's counts (see :mod:`sim.simulation.report`)."""
        with self._lock:
            claims, visits = list(self.claims), list(self.visits)
        out: dict[str, Any] = {}
        if voucher_as_of is not None:
            out["voucher"] = _vouchers(claims, voucher_as_of)
        if pilot_as_of is not None:
            out["ha_pilot"] = _pilot_visits(visits, pilot_as_of)
        return out


def _vouchers(claims: list[Claim], as_of: date) -> dict[str, Any]:
    counted = [c for c in claims if c.day <= as_of]
    later = [c for c in claims if c.day > as_of]
    return {
        "as_of": as_of.isoformat(),
        "users": len({c.user for c in counted}),
        "users_in_population": len({c.user for c in counted if c.user.startswith("p")}),
        "transactions": len(counted),
        "claimed_hkd": sum(c.amount_hkd for c in counted),
        "services": dict(sorted(Counter(c.service for c in counted).items())),
        "by_institution": dict(sorted(Counter(c.institution_id for c in counted).items())),
        "after_as_of": {
            "transactions": len(later),
            "claimed_hkd": sum(c.amount_hkd for c in later),
        },
    }


def _pilot_visits(visits: list[PilotVisit], as_of: date) -> dict[str, Any]:
    counted = [v for v in visits if v.day <= as_of]
    return {
        "as_of": as_of.isoformat(),
        "patients": len({v.patient for v in counted}),
        "patients_in_population": len({v.patient for v in counted if v.patient.startswith("p")}),
        "visits": len(counted),
        "after_as_of": {"visits": sum(v.day > as_of for v in visits)},
    }
