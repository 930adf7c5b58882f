"""How many access decisions per second ``policies.decide`` makes on one core.

Two realistic requests, each with ten sharing consents in the facts (renewals, revocations
and other institutions' consents, as a long-time eHealth user accumulates them):

- an HK doctor reading one record (R3: consent lookup, role check, obligations);
- a cross-border doctor listing records through a viewing session (R4: designation,
  session, authorisation, pilot timeline, lookback box).

Target: 200,000 decisions per second each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from policies import (
    Action,
    Actor,
    Category,
    ConsentKind,
    CrossBorderAuthorisation,
    Facts,
    Person,
    Policy,
    RecordRef,
    Request,
    SharingConsent,
    Source,
    ViewingSession,
    decide,
    default_policy_path,
    load_policy,
)
from sim.benchmarks import Measurement

SUITE = "policies"
TARGET = 200_000.0
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
PERSON = "person-bench"


def ten_consents(now: datetime) -> tuple[SharingConsent, ...]:
    """The hksh consent renewed twice (two old ones expired or revoked) among others."""
    day = timedelta(days=1)
    both = frozenset({Source.EHR, Source.PERSONAL_FOLDER})
    ehr = frozenset({Source.EHR})

    def consent(n: int, institution: str, **kw: object) -> SharingConsent:
        fields: dict[str, object] = {
            "kind": ConsentKind.ONE_YEAR,
            "scopes": ehr,
            "granted_at": now - 200 * day,
            "expires_at": now + 165 * day,
            "revoked_at": None,
            **kw,
        }
        return SharingConsent(f"c{n}", PERSON, institution, **fields)  # type: ignore[arg-type]

    return (
        consent(1, "matilda"),
        consent(2, "hksh", granted_at=now - 900 * day, expires_at=now - 535 * day),
        consent(3, "hk_baptist", kind=ConsentKind.INDEFINITE, expires_at=None),
        consent(4, "hksh", granted_at=now - 500 * day, revoked_at=now - 300 * day),
        consent(5, "harbourview_clinics", scopes=both),
        consent(6, "matilda", granted_at=now - 700 * day, expires_at=now - 335 * day),
        consent(7, "ha", scopes=both),
        consent(8, "hk_baptist", granted_at=now - 30 * day, revoked_at=now - 2 * day),
        consent(9, "dh", kind=ConsentKind.INDEFINITE, expires_at=None, scopes=both),
        consent(10, "hksh", scopes=both, granted_at=now - 100 * day),
    )


def hk_doctor_reads_a_record(policy: Policy) -> tuple[Request, Facts]:
    person = Person(PERSON, date(1958, 5, 17), NOW - timedelta(days=2000))
    doctor = Actor.hk_professional("hksh", "hksh-dr-chan", "doctor")
    record = RecordRef(Category.LAB_REPORT, Source.EHR, date(2025, 11, 3), "ha")
    request = Request(doctor, Action.READ_CONTENT, PERSON, record=record)
    return request, Facts(policy, person, ten_consents(NOW))


def cross_border_list(policy: Policy) -> tuple[Request, Facts]:
    person = Person(PERSON, date(1958, 5, 17), NOW - timedelta(days=2000))
    doctor = Actor.mainland_professional("hku_sz", "hkusz-dr-li", "doctor")
    issued = NOW - timedelta(days=3)
    authorisation = CrossBorderAuthorisation(
        "a1", PERSON, "hku_sz", issued, policy.cross_border_expires_at(issued)
    )
    opened = NOW - timedelta(minutes=10)
    session = ViewingSession(
        "s1",
        "a1",
        "hku_sz",
        "hkusz-dr-li",
        opened,
        policy.viewing_session_expires_at(opened, authorisation.expires_at),
    )
    facts = Facts(
        policy,
        person,
        ten_consents(NOW),
        cross_border_authorisations=(authorisation,),
        viewing_sessions=(session,),
    )
    return Request(doctor, Action.LIST_RECORDS, PERSON, session_id="s1"), facts


def decisions_per_second(request: Request, facts: Facts, iterations: int) -> float:
    """Best of three timed runs of ``iterations`` decisions (perf_counter, one thread)."""
    assert decide(request, facts, NOW).allowed, "the benchmark request must be allowed"
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(iterations):
            decide(request, facts, NOW)
        best = min(best, time.perf_counter() - started)
    return iterations / best


SCENARIOS: dict[str, Callable[[Policy], tuple[Request, Facts]]] = {
    "hk_doctor_reads_a_record": hk_doctor_reads_a_record,
    "cross_border_list": cross_border_list,
}


def run(scale: float) -> list[Measurement]:
    policy = load_policy(default_policy_path())
    iterations = max(2_000, int(100_000 * scale))
    measurements = []
    for name, build in SCENARIOS.items():
        request, facts = build(policy)
        value = decisions_per_second(request, facts, iterations)
        measurements.append(
            Measurement(
                suite=SUITE,
                name=name,
                value=value,
                unit="decisions/s",
                target_value=TARGET,
                note=f"one core, ten consents in the facts, best of 3 x {iterations}",
            )
        )
    return measurements


if __name__ == "__main__":
    for m in run(1.0):
        print(f"{m.name}: {m.value:,.0f} {m.unit} (target {m.target_value:,.0f})")
