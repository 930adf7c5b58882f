"""Cross-border authorisations over real HTTP: eligibility on the policy's timeline, codes
shown once and never stored in clear, QR codes, revocation (R4, R8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel

from policies.model import Actor
from policies.policy_file import default_policy_path, load_policy
from tests.api.conftest import OPERATOR_SECRET, PASSWORD, World
from tests.support.http import bearer
from vault.access.judge import Caller, Judge
from vault.core.clock import SimulatedClock
from vault.core.errors import NotFound
from vault.core.ids import new_id
from vault.records.reading import RecordQuery, Records
from vault.registry.institutions import NewProfessional, add_professional
from vault.store.engine import transaction
from vault.store.tables import ViewingSession

AUTHORISATIONS = "/v1/me/cross-border-authorisations"
MISSING = "0" * 32
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def clock(world: World) -> SimulatedClock:
    """The server's clock (the world fixture runs the server in-process, simulated)."""
    assert isinstance(world.vault.clock, SimulatedClock)
    return world.vault.clock


def apply(world: World, me: dict[str, str], institution_id: str = "hku_sz") -> Any:
    r = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": institution_id})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["location"] == f"{AUTHORISATIONS}/{r.json()['id']}"
    return r.json()


def set_clock(world: World, instant: datetime) -> None:
    """Set the server's clock; earlier tokens are no longer valid, so the operator logs in
    again (create people after this)."""
    clock(world).set(instant)
    world.operator = bearer(
        world.token(
            grant_type="client_credentials", client_id="operator", client_secret=OPERATOR_SECRET
        )
    )


def every_stored_value(world: World) -> str:
    """Every value of every row of every table, as text (bytes included, as repr)."""
    dump: list[str] = []
    with world.vault.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(sa_select(table)):
                dump.extend(repr(value) for value in row)
    return "\n".join(dump)


def code_body(code: str, prefix: str) -> str:
    assert code.startswith(prefix + "-")
    return code.removeprefix(prefix + "-").replace("-", "")


def test_apply_answers_the_codes_once(world: World) -> None:
    _, me = world.person(dob="1950-05-17")
    issued = apply(world, me)
    assert issued["institution_id"] == "hku_sz"
    issued_at = datetime.fromisoformat(issued["issued_at"])
    assert datetime.fromisoformat(issued["usable_from"]) == issued_at  # immediate since 2025-12-24
    assert datetime.fromisoformat(issued["expires_at"]) == issued_at + timedelta(days=30)
    # 32-letter alphabet: 5 bits a character
    assert len(code_body(issued["application_code"], "CB")) * 5 >= 60
    assert len(code_body(issued["passcode"], "PC")) * 5 >= 100
    other = apply(world, me)
    assert other["application_code"] != issued["application_code"]
    assert other["passcode"] != issued["passcode"]

    listed = world.http.get(AUTHORISATIONS, headers=me)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()["items"]] == [other["id"], issued["id"]]
    one = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=me)
    assert one.status_code == 200
    assert one.json() == {
        "id": issued["id"],
        "institution_id": "hku_sz",
        "issued_at": issued["issued_at"],
        "usable_from": issued["usable_from"],
        "expires_at": issued["expires_at"],
        "revoked_at": None,
        "status": "active",
    }
    log = world.http.get("/v1/me/access-log", headers=me)
    for answer in (listed, one, log):
        for code in (issued["application_code"], issued["passcode"]):
            assert code not in answer.text
            assert code_body(code, code[:2]) not in answer.text


def test_codes_are_never_stored_in_clear(world: World) -> None:
    _, me = world.person(dob="1950-05-17")
    issued = apply(world, me)
    stored = every_stored_value(world)
    assert issued["id"] in stored  # the scan does see the rows
    for code, prefix in ((issued["application_code"], "CB"), (issued["passcode"], "PC")):
        assert code not in stored
        assert code_body(code, prefix) not in stored
        assert code_body(code, prefix)[:12] not in stored


def test_the_pilot_refuses_people_under_65_and_delays_the_others_by_72_hours(
    world: World,
) -> None:
    set_clock(world, datetime(2025, 6, 1, 2, 0, tzinfo=UTC))  # 10:00 in Hong Kong
    _, young = world.person("Young", dob="1980-01-01")
    refused = world.http.post(AUTHORISATIONS, headers=young, json={"institution_id": "hku_sz"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "cross_border_not_permitted"
    assert refused.json()["reason"] == "not_eligible"
    assert world.http.get(AUTHORISATIONS, headers=young).json()["items"] == []

    _, elder = world.person("Elder", dob="1955-01-01")
    issued = apply(world, elder)
    issued_at = datetime.fromisoformat(issued["issued_at"])
    assert datetime.fromisoformat(issued["usable_from"]) == issued_at + timedelta(hours=72)
    shown = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=elder).json()
    assert shown["status"] == "pending"
    # not yet designated on that date (designated from 2025-08-01)
    r = world.http.post(
        AUTHORISATIONS, headers=elder, json={"institution_id": "guangdong_clifford"}
    )
    assert r.status_code == 403 and r.json()["reason"] == "not_designated"


def test_open_to_everyone_since_24_december_2025(world: World) -> None:
    _, young = world.person("Young", dob="2001-01-01")
    issued = apply(world, young, "guangdong_clifford")
    assert issued["usable_from"] == issued["issued_at"]


def test_a_person_who_has_not_joined_cannot_apply(world: World) -> None:
    _, me = world.person(joined=False)
    r = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": "hku_sz"})
    assert r.status_code == 403 and r.json()["reason"] == "not_joined"


def test_only_designated_mainland_institutions(world: World) -> None:
    _, me = world.person()
    hk = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": "hksh"})
    assert hk.status_code == 422 and hk.json()["code"] == "not_a_mainland_institution"
    unknown = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": "atlantis"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_institution"
    extra = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": "hku_sz", "x": 1})
    assert extra.status_code == 422 and extra.json()["code"] == "validation_failed"
    assert world.http.get(AUTHORISATIONS, headers=me).json()["items"] == []


@pytest.mark.parametrize("which", ["application", "passcode"])
def test_qr_codes_are_pngs_until_revoked(world: World, which: str) -> None:
    _, me = world.person()
    issued = apply(world, me)
    url = f"{AUTHORISATIONS}/{issued['id']}/qr/{which}"
    qr = world.http.get(url, headers=me)
    assert qr.status_code == 200
    assert qr.headers["content-type"] == "image/png"
    assert qr.headers["cache-control"] == "no-store"
    assert qr.content.startswith(PNG_SIGNATURE) and len(qr.content) > 100
    assert world.http.delete(f"{AUTHORISATIONS}/{issued['id']}", headers=me).status_code == 204
    gone = world.http.get(url, headers=me)
    missing = world.http.get(f"{AUTHORISATIONS}/{MISSING}/qr/{which}", headers=me)
    assert gone.status_code == missing.status_code == 404
    assert gone.content == missing.content


def test_qr_codes_end_with_expiry(world: World) -> None:
    pid, me = world.person()
    issued = apply(world, me)
    clock(world).advance(timedelta(days=31))
    me = bearer(world.token(grant_type="password", username=pid, password=PASSWORD))
    assert (
        world.http.get(f"{AUTHORISATIONS}/{issued['id']}/qr/passcode", headers=me).status_code
        == 404
    )
    shown = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=me).json()
    assert shown["status"] == "expired"


def test_unknown_qr_kind_is_refused(world: World) -> None:
    _, me = world.person()
    issued = apply(world, me)
    r = world.http.get(f"{AUTHORISATIONS}/{issued['id']}/qr/secret", headers=me)
    assert r.status_code == 422


def test_revoke_is_immediate_and_idempotent(world: World) -> None:
    _, me = world.person()
    issued = apply(world, me)
    assert world.http.delete(f"{AUTHORISATIONS}/{issued['id']}", headers=me).status_code == 204
    shown = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=me).json()
    assert shown["status"] == "revoked" and shown["revoked_at"] is not None
    assert world.http.delete(f"{AUTHORISATIONS}/{issued['id']}", headers=me).status_code == 204
    again = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=me).json()
    assert again["revoked_at"] == shown["revoked_at"]


def test_revocation_ends_viewing_sessions_at_once(world: World) -> None:
    """A session opened with the codes (made here directly in the vault) reads the eHR
    until the person revokes the authorisation, and not a moment after (R8)."""
    pid, me = world.person()
    world.deposit(pid, world.professional("ha"), clinical_date="2025-06-01")
    issued = apply(world, me)
    records = Records(Judge(world.vault, load_policy(default_policy_path())))
    now = world.vault.clock.now()
    session_id = new_id()
    with transaction(world.vault.engine) as session:
        doctor = add_professional(session, "hku_sz", NewProfessional("Dr Li", "doctor"), now=now)
        session.add(
            ViewingSession(
                id=session_id,
                authorisation_id=issued["id"],
                person_id=pid,
                institution_id="hku_sz",
                professional_id=doctor.id,
                opened_at=now,
                expires_at=now + timedelta(hours=2),
            )
        )
    caller = Caller(Actor.mainland_professional("hku_sz", doctor.id, "doctor"))
    listed = records.list(caller, pid, RecordQuery(), session_id=session_id)
    assert len(listed.items) == 1
    assert world.http.delete(f"{AUTHORISATIONS}/{issued['id']}", headers=me).status_code == 204
    with pytest.raises(NotFound):
        records.list(caller, pid, RecordQuery(), session_id=session_id)


def test_another_persons_authorisation_is_exactly_like_a_missing_one(world: World) -> None:
    _, alice = world.person("Alice")
    _, mallory = world.person("Mallory")
    issued = apply(world, alice)
    for method, suffix in (
        ("GET", ""),
        ("GET", "/qr/application"),
        ("GET", "/qr/passcode"),
        ("DELETE", ""),
    ):
        theirs = world.http.request(
            method, f"{AUTHORISATIONS}/{issued['id']}{suffix}", headers=mallory
        )
        missing = world.http.request(method, f"{AUTHORISATIONS}/{MISSING}{suffix}", headers=mallory)
        assert theirs.status_code == missing.status_code == 404, (method, suffix)
        assert theirs.content == missing.content
    assert world.http.get(AUTHORISATIONS, headers=mallory).json()["items"] == []
    shown = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=alice).json()
    assert shown["status"] == "active"
