"""What a run observed, counted as it happens (thread-safe), and turned into the
summary's deterministic ``counts`` and its separate ``latency_ms``.

Three views of the same run are kept apart:

* ``calls`` and ``answers_by_actor`` — what the simulator *saw*: every HTTP answer by
  call kind and by actor kind, a permit being any 2xx and a denial named by the
  problem's stable ``code`` (the API never tells a refused caller *why*, R10);
* ``audit`` — what the server *decided and why*: the persons' access logs read back at
  the end (every audited decision about a person, with its reason code and the actor
  kind: the most faithful source, filled by :mod:`sim.simulation.driver`);
* ``policy_decisions`` — ``crossvault_decisions_total{reason,allowed}`` from ``/metrics``
  (policy decisions only, server-wide, without actor kinds: a cross-check).

What concerns people is also counted per person (by the person's index in the
population, the same in every run of a seed): the records listed to cross-border viewers
(``records_visible_by_person``, distinct records) and, from the access logs, who was
denied for which reason (``people_denied_by_reason``). Sets and counters under one lock,
so the counts do not depend on which thread got there first.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from sim.simulation.ledger import Ledger

DAILY_KEYS = (
    "applications",
    "sessions",
    "cross_border_views",
    "hk_views",
    "folder_uploads",
    "radiology_deposits",
)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _nested(counter: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {k: dict(sorted(v.items())) for k, v in sorted(counter.items())}


class Tally:
    """Counters for one run. Every method may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.permitted: Counter[str] = Counter()
        self.denied: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.latency: defaultdict[str, list[float]] = defaultdict(list)
        self.daily: defaultdict[date, Counter[str]] = defaultdict(Counter)
        self.deposits: Counter[str] = Counter()
        self.folder_sources: Counter[str] = Counter()
        self.cross_border: Counter[str] = Counter()
        self.visible: defaultdict[int, set[str]] = defaultdict(set)  # person -> record ids
        self.applicants: set[int] = set()
        self.skipped: Counter[str] = Counter()
        self.notifications: Counter[str] = Counter()
        self.audit: defaultdict[str, defaultdict[str, Counter[str]]] = defaultdict(
            lambda: defaultdict(Counter)
        )
        self.denied_people: defaultdict[str, set[int]] = defaultdict(set)  # reason -> people
        self.policy_decisions: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.steps_done = 0
        self.audit_collected = False
        self.ledger = Ledger()  # the programmes' claims and visits (not the vault's)

    # --- while running -----------------------------------------------------------------

    def answer(self, kind: str, actor_kind: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.calls[kind][outcome] += 1
            self.latency[kind].append(seconds * 1000)
            if kind.startswith("login"):
                return  # authentication, not an access decision
            if outcome == "ok":
                self.permitted[actor_kind] += 1
            else:
                self.denied[actor_kind][outcome] += 1

    def on(self, day: date, what: str, n: int = 1) -> None:
        with self._lock:
            self.daily[day][what] += n

    def deposited(self, institution_id: str, records: int = 1) -> None:
        with self._lock:
            self.deposits[institution_id] += records

    def filed(self, source: str) -> None:
        with self._lock:
            self.folder_sources[source] += 1

    def seen(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.cross_border[what] += n

    def listed(self, person: int, record_ids: Iterable[str]) -> None:
        """Person ``person``'s records, listed to a cross-border viewer."""
        ids = list(record_ids)
        with self._lock:
            if ids:
                self.visible[person].update(ids)

    def applied(self, person: int) -> None:
        with self._lock:
            self.applicants.add(person)

    def skip(self, why: str) -> None:
        with self._lock:
            self.skipped[why] += 1

    def step_done(self) -> None:
        with self._lock:
            self.steps_done += 1

    # --- read back at the end ----------------------------------------------------------

    def audited(self, person: int, actor_kind: str, allowed: bool, reason: str) -> None:
        """One decision in person ``person``'s access log."""
        with self._lock:
            self.audit[actor_kind]["allowed" if allowed else "denied"][reason] += 1
            if not allowed:
                self.denied_people[reason].add(person)

    def notified(self, event: str) -> None:
        with self._lock:
            self.notifications[event] += 1

    def metric(self, reason: str, allowed: bool, value: int) -> None:
        with self._lock:
            self.policy_decisions["allowed" if allowed else "denied"][reason] += value

    # --- the summary -------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        """Everything deterministic: the same seed gives the same counts."""
        with self._lock:
            cross_border = dict(sorted(self.cross_border.items()))
            by_person = {str(p): len(ids) for p, ids in sorted(self.visible.items())}
            cross_border["distinct_records_visible"] = len(set().union(*self.visible.values()))
            cross_border["people_with_records_visible"] = len(by_person)
            cross_border["distinct_applicants"] = len(self.applicants)
            return {
                "calls": _nested(self.calls),
                "answers_by_actor": {
                    actor: {
                        "permitted": self.permitted[actor],
                        "denied": dict(sorted(self.denied[actor].items())),
                    }
                    for actor in sorted(set(self.permitted) | set(self.denied))
                },
                "audit": (
                    {actor: _nested(outcomes) for actor, outcomes in sorted(self.audit.items())}
                    if self.audit_collected
                    else None
                ),
                "policy_decisions": _nested(self.policy_decisions) or None,
                "notifications": (
                    {
                        "total": sum(self.notifications.values()),
                        "by_event": dict(sorted(self.notifications.items())),
                    }
                    if self.audit_collected
                    else None
                ),
                "records_deposited_by_institution": dict(sorted(self.deposits.items())),
                "folder_records_by_source": dict(sorted(self.folder_sources.items())),
                "cross_border": cross_border,
                "records_visible_by_person": by_person,
                "people_denied_by_reason": (
                    {r: len(p) for r, p in sorted(self.denied_people.items())}
                    if self.audit_collected
                    else None
                ),
                "skipped": dict(sorted(self.skipped.items())),
                "daily": {
                    day.isoformat(): {k: counts[k] for k in DAILY_KEYS if counts[k]}
                    for day, counts in sorted(self.daily.items())
                },
                "totals": {k: sum(c[k] for c in self.daily.values()) for k in DAILY_KEYS},
            }

    def latencies(self) -> dict[str, dict[str, float]]:
        """Per call kind: count and p50/p95/p99 in milliseconds (not deterministic)."""
        with self._lock:
            return {
                kind: {
                    "n": len(values),
                    "p50": round(percentile(values, 50), 2),
                    "p95": round(percentile(values, 95), 2),
                    "p99": round(percentile(values, 99), 2),
                }
                for kind, values in sorted(self.latency.items())
            }
