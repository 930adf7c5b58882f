"""Radiology authorisations over real HTTP: only designated radiology depositors, the code
once (then only as a QR code while usable), never stored in clear (R5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import SQLModel

from tests.api.conftest import PASSWORD, World
from tests.support.http import bearer
from vault.core.clock import SimulatedClock

AUTHORISATIONS = "/v1/me/radiology-authorisations"
MISSING = "0" * 32
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def clock(world: World) -> SimulatedClock:
    """The server's clock (the world fixture runs the server in-process, simulated)."""
    assert isinstance(world.vault.clock, SimulatedClock)
    return world.vault.clock


def grant(world: World, me: dict[str, str], institution_id: str = "hku_sz") -> Any:
    r = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": institution_id})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["location"] == f"{AUTHORISATIONS}/{r.json()['id']}"
    return r.json()


def test_grant_list_get_and_qr(world: World) -> None:
    _, me = world.person()
    issued = grant(world, me)
    code = issued["authorisation_code"]
    assert code.startswith("RA-") and len(code[3:].replace("-", "")) * 5 >= 100
    assert issued["expires_at"] > issued["issued_at"]
    shown = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=me)
    assert shown.status_code == 200
    assert shown.json() == {
        "id": issued["id"],
        "institution_id": "hku_sz",
        "issued_at": issued["issued_at"],
        "expires_at": issued["expires_at"],
        "revoked_at": None,
        "used_at": None,
        "status": "active",
    }
    listed = world.http.get(AUTHORISATIONS, headers=me)
    assert [a["id"] for a in listed.json()["items"]] == [issued["id"]]
    for answer in (shown, listed):
        assert code not in answer.text
    qr = world.http.get(f"{AUTHORISATIONS}/{issued['id']}/qr", headers=me)
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    assert qr.headers["cache-control"] == "no-store"
    assert qr.content.startswith(PNG_SIGNATURE)


def test_the_code_is_never_stored_in_clear(world: World) -> None:
    _, me = world.person()
    issued = grant(world, me)
    body = issued["authorisation_code"][3:].replace("-", "")
    with world.vault.engine.connect() as connection:
        stored = "\n".join(
            repr(value)
            for table in SQLModel.metadata.sorted_tables
            for row in connection.execute(sa_select(table))
            for value in row
        )
    assert issued["id"] in stored
    assert issued["authorisation_code"] not in stored and body[:12] not in stored


def test_revoked_and_expired_codes_have_no_qr(world: World) -> None:
    pid, me = world.person()
    revoked = grant(world, me)
    expiring = grant(world, me, "shenzhen_new_frontier_united_family")
    assert world.http.delete(f"{AUTHORISATIONS}/{revoked['id']}", headers=me).status_code == 204
    assert world.http.delete(f"{AUTHORISATIONS}/{revoked['id']}", headers=me).status_code == 204
    gone = world.http.get(f"{AUTHORISATIONS}/{revoked['id']}/qr", headers=me)
    missing = world.http.get(f"{AUTHORISATIONS}/{MISSING}/qr", headers=me)
    assert gone.status_code == missing.status_code == 404 and gone.content == missing.content
    assert world.http.get(f"{AUTHORISATIONS}/{revoked['id']}", headers=me).json()["status"] == (
        "revoked"
    )
    clock(world).advance(timedelta(days=15))
    me = bearer(world.token(grant_type="password", username=pid, password=PASSWORD))
    assert world.http.get(f"{AUTHORISATIONS}/{expiring['id']}/qr", headers=me).status_code == 404
    shown = world.http.get(f"{AUTHORISATIONS}/{expiring['id']}", headers=me).json()
    assert shown["status"] == "expired"


def test_only_designated_radiology_depositors(world: World) -> None:
    _, me = world.person()
    tungwah = world.http.post(
        AUTHORISATIONS, headers=me, json={"institution_id": "dongguan_tungwah"}
    )
    assert tungwah.status_code == 403
    assert tungwah.json()["code"] == "radiology_authorisation_not_permitted"
    assert tungwah.json()["reason"] == "not_radiology_depositor"
    hk = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": "ha"})
    assert hk.status_code == 422 and hk.json()["code"] == "not_a_mainland_institution"
    unknown = world.http.post(AUTHORISATIONS, headers=me, json={"institution_id": "nowhere"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_institution"
    assert world.http.get(AUTHORISATIONS, headers=me).json()["items"] == []


def test_another_persons_authorisation_is_exactly_like_a_missing_one(world: World) -> None:
    _, alice = world.person("Alice")
    _, mallory = world.person("Mallory")
    issued = grant(world, alice)
    for method, suffix in (("GET", ""), ("GET", "/qr"), ("DELETE", "")):
        theirs = world.http.request(
            method, f"{AUTHORISATIONS}/{issued['id']}{suffix}", headers=mallory
        )
        missing = world.http.request(method, f"{AUTHORISATIONS}/{MISSING}{suffix}", headers=mallory)
        assert theirs.status_code == missing.status_code == 404, (method, suffix)
        assert theirs.content == missing.content
    shown = world.http.get(f"{AUTHORISATIONS}/{issued['id']}", headers=alice).json()
    assert shown["status"] == "active"
