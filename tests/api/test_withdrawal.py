"""Withdrawal (issue 15, item 10): a person — or their caregiver — leaves the vault through
the API, re-authenticating; ``crossvault persons erase`` does the same for an operator on
a verified request. Afterwards nothing of the person opens, every grant has ended, and
the audit chain still verifies with no health data in it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

from crossvault.cli import app
from tests.api.conftest import PASSWORD, World
from tests.api.cross_border_support import audit_trail, authorise, reasons, staff
from vault.core.settings import Settings
from vault.store.tables import (
    CaregiverDelegation,
    CrossBorderAuthorisation,
    PersonDataKey,
    Record,
    SharingConsent,
    ViewingSession,
)

CONTENT = "WITHDRAWN-CONTENT-5e1c: metformin 500 mg"
TITLE = "WITHDRAWN-TITLE-5e1c"


def _withdraw(world: World, headers: dict[str, str], password: str = PASSWORD) -> httpx.Response:
    return world.http.post(
        "/v1/me/withdraw", headers=headers, json={"password": password, "confirm": "withdraw"}
    )


def _estate(world: World, pid: str, me: dict[str, str]) -> dict[str, str]:
    """A record of HA's, a folder document, a consent, a cross-border session, a
    caregiver: what withdrawal must end."""
    ha_record = world.deposit(pid, world.professional("ha"), content=CONTENT)
    folder = world.http.post(
        "/v1/me/folder",
        headers=me,
        json={
            "category": "document",
            "clinical_date": "2025-01-01",
            "title": TITLE,
            "content": CONTENT,
            "content_type": "text/plain",
        },
    )
    assert folder.status_code == 201, folder.text
    consent = world.http.post(
        "/v1/me/sharing-consents",
        headers=me,
        json={"institution_id": "hksh", "kind": "indefinite", "scopes": ["ehr"]},
    )
    assert consent.status_code == 201, consent.text
    doctor = staff(world, "hku_sz")
    opened = doctor.open(authorise(world, pid, "hku_sz"))
    assert opened.status_code == 201, opened.text
    carer, _ = world.person("Carer")
    appointed = world.http.post("/v1/me/caregivers", headers=me, json={"caregiver_id": carer})
    assert appointed.status_code == 201, appointed.text
    return {
        "record": ha_record,
        "folder": folder.json()["id"],
        "session": opened.json()["session_id"],
    }


def _nothing_left(world: World, pid: str, now: datetime | None = None) -> None:
    """Nothing of ``pid`` is left; every grant ended by ``now`` (the server's clock)."""
    now = now or world.vault.clock.now()
    with Session(world.vault.engine) as session:
        assert session.get(PersonDataKey, pid) is None
        assert session.exec(select(Record).where(Record.person_id == pid)).all() == []
        for table in (SharingConsent, CrossBorderAuthorisation, CaregiverDelegation):
            for row in session.exec(select(table).where(table.person_id == pid)).all():
                revoked = getattr(row, "revoked_at", None)
                assert revoked is not None and revoked <= now, row
        for s in session.exec(select(ViewingSession).where(ViewingSession.person_id == pid)):
            assert s.expires_at <= now
        audit_text = " ".join(
            str(row) for row in session.execute(text("SELECT * FROM auditentry")).all()
        )
    assert CONTENT not in audit_text and TITLE not in audit_text
    verified = world.http.get("/v1/admin/audit/verify", headers=world.operator)
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text


def test_a_person_withdraws_and_nothing_of_theirs_opens(world: World) -> None:
    pid, me = world.person()
    estate = _estate(world, pid, me)
    hksh = world.professional("hksh")
    assert world.http.get(f"/v1/patients/{pid}/records", headers=hksh).status_code == 200

    wrong = _withdraw(world, me, "not-my-password")
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_password", wrong.text
    assert world.http.get("/v1/me/records", headers=me).status_code == 200  # nothing changed
    unconfirmed = world.http.post("/v1/me/withdraw", headers=me, json={"password": PASSWORD})
    assert unconfirmed.status_code == 422

    done = _withdraw(world, me)
    assert done.status_code == 204, done.text
    [left] = [e for e in audit_trail(world, person_id=pid) if e.action == "withdraw"]
    assert left.allowed and left.reason == "owner"

    missing = world.http.get(f"/v1/me/records/{'0' * 32}", headers=me)
    for path in ("/v1/me", "/v1/me/records", f"/v1/me/records/{estate['folder']}"):
        answer = world.http.get(path, headers=me)
        assert answer.status_code == 404 and answer.content == missing.content, path
    for path in (f"/v1/patients/{pid}/records", f"/v1/patients/{pid}/records/{estate['record']}"):
        assert world.http.get(path, headers=hksh).status_code == 404
    doctor = staff(world, "hku_sz")
    assert doctor.get(f"/v1/cross-border/sessions/{estate['session']}/records").status_code == 404
    login = world.http.post(
        "/v1/auth/token", data={"grant_type": "password", "username": pid, "password": PASSWORD}
    )
    assert login.status_code == 400
    _nothing_left(world, pid)


def test_a_caregiver_withdraws_the_person_with_their_own_password(world: World) -> None:
    child, child_h = world.person("Child", dob="2015-06-01")
    parent, parent_h = world.person("Parent", dob="1980-06-01")
    record = world.deposit(child, world.professional("ha"), content=CONTENT)
    appointed = world.http.post("/v1/me/caregivers", headers=child_h, json={"caregiver_id": parent})
    assert appointed.status_code == 201, appointed.text
    as_child = {**parent_h, "On-Behalf-Of": child}
    done = _withdraw(world, as_child)
    assert done.status_code == 204, done.text
    assert world.http.get(f"/v1/me/records/{record}", headers=child_h).status_code == 404
    assert world.http.get("/v1/me", headers=parent_h).status_code == 200  # the parent stays
    _nothing_left(world, child)


def test_the_operator_erases_on_a_verified_request(world: World, api_settings: Settings) -> None:
    pid, me = world.person()
    _estate(world, pid, me)
    env = {
        "CROSSVAULT_DATA_DIR": str(Path(api_settings.data_dir)),
        "DATABASE_URL": api_settings.database_url or "",
        "CROSSVAULT_OPERATOR_SECRET": "cli-test-operator-secret-0123456789",
    }
    run = CliRunner().invoke(
        app, ["persons", "erase", pid, "--reference", "REQ-2026-0042"], env=env
    )
    assert run.exit_code == 0, run.output
    assert "erased person" in run.stdout
    assert world.http.get("/v1/me", headers=me).status_code == 404
    assert "erased_on_request" in reasons(world, person_id=pid)
    again = CliRunner().invoke(app, ["persons", "erase", pid, "--reference", "REQ-2"], env=env)
    assert again.exit_code == 1 and "already erased" in again.stderr
    _nothing_left(world, pid, datetime.now(UTC))  # the command runs on the host's clock
