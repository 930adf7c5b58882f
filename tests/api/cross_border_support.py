"""Helpers for the cross-border and restricted-access API tests: professionals who can
log in again after the simulated clock moves, authorisations (through the citizen API,
or straight into the database for dates the API would refuse), and looks into the audit
log and notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session, select

from tests.api.conftest import OPERATOR_SECRET, PASSWORD, World
from tests.support.http import bearer
from vault.core.clock import SimulatedClock
from vault.core.ids import new_id
from vault.crypto.passwords import code_hash, new_code
from vault.store.engine import transaction
from vault.store.tables import AuditEntry, CrossBorderAuthorisation, Notification

SESSIONS = "/v1/cross-border/sessions"


TOKEN_REUSE = timedelta(minutes=10)  # tokens live 15 minutes of (simulated) server time


@dataclass
class Staff:
    """A professional who logs in again whenever the simulated clock has moved past (or
    before) their token's lifetime."""

    world: World
    id: str
    institution_id: str
    client_id: str
    client_secret: str
    _token: tuple[datetime, dict[str, str]] | None = None

    def headers(self) -> dict[str, str]:
        at = now(self.world)
        if self._token is None or not timedelta(0) <= at - self._token[0] < TOKEN_REUSE:
            token = self.world.token(
                grant_type="client_credentials",
                client_id=self.client_id,
                client_secret=self.client_secret,
                professional_id=self.id,
            )
            self._token = (at, bearer(token))
        return self._token[1]

    def open(self, codes: Codes) -> httpx.Response:
        return self.world.http.post(SESSIONS, headers=self.headers(), json=codes.body())

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.world.http.get(path, headers=self.headers(), params=params)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.world.http.post(path, headers=self.headers(), json=body)


def staff(world: World, institution_id: str, profession: str = "doctor") -> Staff:
    client_id, secret = world.registry.client(institution_id)
    professional_id = world.registry.professional_id(institution_id, profession)
    return Staff(world, professional_id, institution_id, client_id, secret)


def citizen(world: World, pid: str) -> dict[str, str]:
    """A fresh token for the person (after the clock moved)."""
    return bearer(world.token(grant_type="password", username=pid, password=PASSWORD))


@dataclass(frozen=True)
class Codes:
    id: str
    application_code: str
    passcode: str

    def body(self) -> dict[str, str]:
        return {"application_code": self.application_code, "passcode": self.passcode}

    def wrong_passcode(self) -> Codes:
        return Codes(self.id, self.application_code, new_code("PC", 24))


def unknown_codes() -> Codes:
    return Codes("", new_code("CB", 16), new_code("PC", 24))


def authorise(world: World, pid: str, institution_id: str) -> Codes:
    """The person applies through the citizen API and receives the two codes."""
    response = world.http.post(
        "/v1/me/cross-border-authorisations",
        headers=citizen(world, pid),
        json={"institution_id": institution_id},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Codes(body["id"], body["application_code"], body["passcode"])


def insert_authorisation(
    world: World,
    pid: str,
    institution_id: str,
    *,
    issued_at: datetime,
    lifetime: timedelta = timedelta(days=30),
) -> Codes:
    """An authorisation written straight into the vault, for dates the citizen API would
    refuse (an institution not yet designated, an application made days ago)."""
    codes = Codes(new_id(), new_code("CB", 16), new_code("PC", 24))
    with transaction(world.vault.engine) as session:
        session.add(
            CrossBorderAuthorisation(
                id=codes.id,
                person_id=pid,
                institution_id=institution_id,
                application_code_hash=code_hash(codes.application_code),
                passcode_hash=code_hash(codes.passcode),
                issued_at=issued_at,
                usable_from=issued_at,
                expires_at=issued_at + lifetime,
                granted_by=pid,
            )
        )
    return codes


def revoke(world: World, pid: str, codes: Codes) -> None:
    response = world.http.delete(
        f"/v1/me/cross-border-authorisations/{codes.id}", headers=citizen(world, pid)
    )
    assert response.status_code == 204, response.text


def clock(world: World) -> SimulatedClock:
    simulated = world.vault.clock
    assert isinstance(simulated, SimulatedClock)
    return simulated


def set_clock(world: World, instant: datetime) -> None:
    """Move the server's clock; the operator logs in again (tokens are time-bound)."""
    clock(world).set(instant)
    _operator_login(world)


def advance(world: World, by: timedelta) -> None:
    clock(world).advance(by)
    _operator_login(world)


def _operator_login(world: World) -> None:
    world.operator = bearer(
        world.token(
            grant_type="client_credentials", client_id="operator", client_secret=OPERATOR_SECRET
        )
    )


def now(world: World) -> datetime:
    return world.vault.clock.now()


def notifications(world: World, pid: str) -> list[dict[str, Any]]:
    """The person's notifications through the citizen API, oldest first."""
    response = world.http.get(
        "/v1/me/notifications", headers=citizen(world, pid), params={"limit": 200}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return sorted(items, key=lambda n: (n["at"], n["id"]))


def events(world: World, pid: str) -> list[str]:
    return [n["event"] for n in notifications(world, pid)]


def audit_trail(world: World, *, person_id: str | None = None) -> list[AuditEntry]:
    """Audit entries in the order they were written (all chains, or one person's chain):
    by time, then chain and position."""
    with Session(world.vault.engine) as session:
        query = select(AuditEntry)
        if person_id is not None:
            query = query.where(AuditEntry.chain_id == person_id)
        entries = session.exec(query).all()
        return sorted(entries, key=lambda e: (e.at, e.chain_id, e.seq))


Mark = frozenset[tuple[str, int]]  # the entries written so far, by (chain, position)


def reasons(
    world: World, *, person_id: str | None = None, since_seq: Mark = frozenset()
) -> list[str]:
    """The reasons of the access decisions written after the mark `since_seq` (logins left
    out: every request here logs in afresh)."""
    trail = audit_trail(world, person_id=person_id)
    fresh = [e for e in trail if (e.chain_id, e.seq) not in since_seq]
    return [e.reason for e in fresh if e.action != "log_in"]


def last_seq(world: World) -> Mark:
    """A mark of every entry written so far (the chains grow independently)."""
    return frozenset((e.chain_id, e.seq) for e in audit_trail(world))


def stored_notifications(world: World, pid: str) -> list[Notification]:
    with Session(world.vault.engine) as session:
        rows = session.exec(select(Notification).where(Notification.person_id == pid)).all()
        return sorted(rows, key=lambda n: n.at)


def hk(year: int, month: int, day: int, hour: int = 10) -> datetime:
    """A Hong Kong wall-clock time as an aware UTC instant."""
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)
