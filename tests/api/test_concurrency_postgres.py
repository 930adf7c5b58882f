"""Sixteen clients granting, revoking and reading at once on PostgreSQL (issue 6).

Each person's sharing consent is granted and revoked by one owner client; reader clients
read every person's records as the consented institution. Afterwards:

* no read that *started* after a revocation *completed* (and before the next grant began)
  was answered with content (R8);
* the audit chain is one valid chain — no fork, no gap — holding at least one entry per
  answered request that makes a decision;
* no deadlock or 5xx; every grant that answered 201 is in the database (no lost writes).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
from sqlmodel import Session, select

from tests.api.conftest import World
from vault.store.audit import verify_chains
from vault.store.tables import SharingConsent

pytestmark = pytest.mark.postgres_only

SECONDS = float(os.environ.get("CROSSVAULT_CONCURRENCY_SECONDS", "60"))
OWNERS = 4
READERS = 12  # 16 clients in all


@dataclass
class Timeline:
    """What one person's owner client did, with wall-clock instants from the client side."""

    grants: list[tuple[float, float]] = field(default_factory=list)  # (started, answered)
    revokes: list[tuple[float, float]] = field(default_factory=list)
    granted_ids: list[str] = field(default_factory=list)


@dataclass
class Read:
    person: int
    started: float
    answered: float
    status: int


@dataclass(frozen=True)
class Run:
    """What every client thread shares: the server, when to stop, and where to complain."""

    base: str
    stop: float
    errors: list[str]


def _owner(run: Run, headers: dict[str, str], timeline: Timeline) -> None:
    errors = run.errors
    with httpx.Client(base_url=run.base, timeout=60) as http:
        while time.monotonic() < run.stop:
            started = time.monotonic()
            r = http.post(
                "/v1/me/sharing-consents",
                headers=headers,
                json={"institution_id": "hksh", "kind": "indefinite", "scopes": ["ehr"]},
            )
            if r.status_code != 201:
                errors.append(f"grant {r.status_code} {r.text[:200]}")
                return
            timeline.grants.append((started, time.monotonic()))
            timeline.granted_ids.append(r.json()["id"])
            time.sleep(0.02)
            started = time.monotonic()
            r = http.delete(f"/v1/me/sharing-consents/{r.json()['id']}", headers=headers)
            if r.status_code != 204:
                errors.append(f"revoke {r.status_code} {r.text[:200]}")
                return
            timeline.revokes.append((started, time.monotonic()))
            time.sleep(0.25)  # a revoked window long enough for whole reads to fall inside


def _reader(
    run: Run, headers: dict[str, str], targets: list[tuple[str, str]], reads: list[Read]
) -> None:
    errors = run.errors
    with httpx.Client(base_url=run.base, timeout=60) as http:
        i = 0
        while time.monotonic() < run.stop:
            person = i % len(targets)
            pid, record_id = targets[person]
            started = time.monotonic()
            r = http.get(f"/v1/patients/{pid}/records/{record_id}/content", headers=headers)
            reads.append(Read(person, started, time.monotonic(), r.status_code))
            if r.status_code not in (200, 404):
                errors.append(f"read {r.status_code} {r.text[:200]}")
                return
            i += 1


def _violations(reads: list[Read], timelines: list[Timeline]) -> list[Read]:
    """Reads answered with content although they began after a completed revocation and
    before the next grant was even sent."""
    bad = []
    for read in reads:
        if read.status != 200:
            continue
        t = timelines[read.person]
        for _, revoke_answered in t.revokes:
            if revoke_answered < read.started and not any(
                revoke_answered < g_started < read.answered for g_started, _ in t.grants
            ):
                bad.append(read)
                break
    return bad


def test_sixteen_clients_grant_revoke_and_read(world: World) -> None:
    base = str(world.http.base_url).rstrip("/")
    ha = world.professional("ha")
    people = [world.person(name=f"Person {i}") for i in range(OWNERS)]
    targets = [(pid, world.deposit(pid, ha)) for pid, _ in people]
    readers = [world.professional("hksh") for _ in range(READERS)]
    timelines = [Timeline() for _ in people]
    reads: list[Read] = []
    errors: list[str] = []
    run = Run(base, time.monotonic() + SECONDS, errors)
    threads = [
        threading.Thread(target=_owner, args=(run, h, t))
        for (_, h), t in zip(people, timelines, strict=True)
    ]
    threads += [threading.Thread(target=_reader, args=(run, h, targets, reads)) for h in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 120)
    assert not any(t.is_alive() for t in threads), "a client never finished (deadlock?)"
    assert errors == []
    assert _violations(reads, timelines) == []
    assert sum(r.status == 200 for r in reads) > 0 and sum(r.status == 404 for r in reads) > 0
    with Session(world.vault.engine) as session:
        report = verify_chains(session)
        stored = set(session.exec(select(SharingConsent.id)).all())
    granted = {cid for t in timelines for cid in t.granted_ids}
    assert granted <= stored, "a granted consent was lost"
    assert report.valid, report.describe()
    decisions = len(reads) + sum(len(t.grants) + len(t.revokes) for t in timelines)
    assert report.entries >= decisions
