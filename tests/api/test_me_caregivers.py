"""Caregivers over real HTTP (R2): a caregiver acts for the person with ``On-Behalf-Of``
while the delegation is in force, never manages caregivers, and loses access the moment
the delegation is revoked or expires. Without one, the person's account answers exactly
like one that does not exist."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.conftest import OPERATOR_SECRET, PASSWORD, World
from tests.support.http import bearer
from vault.core.clock import SimulatedClock

CAREGIVERS = "/v1/me/caregivers"
MISSING = "0" * 32


def clock(world: World) -> SimulatedClock:
    """The server's clock (the world fixture runs the server in-process, simulated)."""
    assert isinstance(world.vault.clock, SimulatedClock)
    return world.vault.clock


def appoint(world: World, me: dict[str, str], caregiver_id: str, **body: Any) -> Any:
    r = world.http.post(CAREGIVERS, headers=me, json={"caregiver_id": caregiver_id, **body})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{CAREGIVERS}/{r.json()['id']}"
    return r.json()


def acting(headers: dict[str, str], person_id: str) -> dict[str, str]:
    return {**headers, "On-Behalf-Of": person_id}


def login(world: World, pid: str) -> dict[str, str]:
    return bearer(world.token(grant_type="password", username=pid, password=PASSWORD))


def test_a_caregiver_acts_for_the_person(world: World) -> None:
    mother, mother_h = world.person("Mother", dob="1940-02-02")
    son, son_h = world.person("Son", dob="1975-03-03")
    record_id = world.deposit(mother, world.professional("ha"))
    delegation = appoint(world, mother_h, son)
    assert delegation["caregiver_id"] == son and delegation["active"] is True
    assert delegation["expires_at"] is None and delegation["revoked_at"] is None
    as_mother = acting(son_h, mother)

    profile = world.http.get("/v1/me", headers=as_mother)
    assert profile.status_code == 200
    assert profile.json() == {
        "id": mother,
        "name": "Mother",
        "date_of_birth": "1940-02-02",
        "joined": True,
        "acting_as_caregiver_for": mother,
    }
    records = world.http.get("/v1/me/records", headers=as_mother).json()["items"]
    assert [r["id"] for r in records] == [record_id]
    consent = world.http.post(
        "/v1/me/sharing-consents",
        headers=as_mother,
        json={"institution_id": "hksh", "kind": "one_year", "scopes": ["ehr"]},
    )
    assert consent.status_code == 201
    hksh = world.professional("hksh")
    assert (
        world.http.get(f"/v1/patients/{mother}/records/{record_id}", headers=hksh).status_code
        == 200
    )
    cross_border = world.http.post(
        "/v1/me/cross-border-authorisations", headers=as_mother, json={"institution_id": "hku_sz"}
    )
    assert cross_border.status_code == 201
    # the mother sees it all as hers, and the log names both identities
    mine = world.http.get("/v1/me/sharing-consents", headers=mother_h).json()["items"]
    assert [c["id"] for c in mine] == [consent.json()["id"]]
    log = world.http.get("/v1/me/access-log", headers=as_mother).json()["items"]
    grant = next(e for e in log if e["action"] == "grant_sharing_consent")
    assert grant["actor_id"] == son and grant["on_behalf_of"] == mother and grant["allowed"]
    # the son's own account is untouched
    assert world.http.get("/v1/me/sharing-consents", headers=son_h).json()["items"] == []
    assert world.http.get("/v1/me", headers=son_h).json()["acting_as_caregiver_for"] is None


def test_a_caregiver_cannot_manage_caregivers(world: World) -> None:
    mother, mother_h = world.person("Mother")
    son, son_h = world.person("Son")
    stranger, _ = world.person("Stranger")
    delegation = appoint(world, mother_h, son)
    as_mother = acting(son_h, mother)
    for method, path, body in (
        ("POST", CAREGIVERS, {"caregiver_id": stranger}),
        ("GET", CAREGIVERS, None),
        ("GET", f"{CAREGIVERS}/{delegation['id']}", None),
        ("DELETE", f"{CAREGIVERS}/{delegation['id']}", None),
    ):
        r = world.http.request(method, path, headers=as_mother, json=body)
        assert r.status_code == 403, (method, path)
        assert r.json()["code"] == "caregiver_cannot_delegate"
    items = world.http.get(CAREGIVERS, headers=mother_h).json()["items"]
    assert [(d["caregiver_id"], d["active"]) for d in items] == [(son, True)]


def test_without_a_delegation_the_account_is_invisible(world: World) -> None:
    """Denied and "no such person" are the same 404, byte for byte, on every endpoint."""
    mother, _ = world.person("Mother")
    _, stranger_h = world.person("Stranger")
    for method, path, body in (
        ("GET", "/v1/me", None),
        ("GET", "/v1/me/records", None),
        ("GET", "/v1/me/sharing-consents", None),
        (
            "POST",
            "/v1/me/sharing-consents",
            {"institution_id": "hksh", "kind": "one_year", "scopes": ["ehr"]},
        ),
        ("POST", "/v1/me/cross-border-authorisations", {"institution_id": "hku_sz"}),
        ("GET", "/v1/me/radiology-authorisations", None),
        ("GET", CAREGIVERS, None),
        ("POST", CAREGIVERS, {"caregiver_id": MISSING}),
        ("GET", "/v1/me/access-log", None),
        ("GET", "/v1/me/notifications", None),
        (
            "POST",
            "/v1/me/folder",
            {
                "category": "clinical_note",
                "clinical_date": "2026-01-05",
                "title": "Discharge summary",
                "content": "x",
                "content_type": "text/plain",
            },
        ),
    ):
        theirs = world.http.request(method, path, headers=acting(stranger_h, mother), json=body)
        nobody = world.http.request(method, path, headers=acting(stranger_h, MISSING), json=body)
        assert theirs.status_code == nobody.status_code == 404, (method, path)
        assert theirs.content == nobody.content


def test_revocation_ends_the_caregivers_access_at_once(world: World) -> None:
    mother, mother_h = world.person("Mother")
    son, son_h = world.person("Son")
    delegation = appoint(world, mother_h, son)
    as_mother = acting(son_h, mother)
    assert world.http.get("/v1/me", headers=as_mother).status_code == 200
    revoked = world.http.delete(f"{CAREGIVERS}/{delegation['id']}", headers=mother_h)
    assert revoked.status_code == 204
    assert world.http.get("/v1/me", headers=as_mother).status_code == 404
    assert world.http.get("/v1/me/sharing-consents", headers=as_mother).status_code == 404
    shown = world.http.get(f"{CAREGIVERS}/{delegation['id']}", headers=mother_h).json()
    assert shown["active"] is False and shown["revoked_at"] is not None
    assert (
        world.http.delete(f"{CAREGIVERS}/{delegation['id']}", headers=mother_h).status_code == 204
    )
    again = world.http.get(f"{CAREGIVERS}/{delegation['id']}", headers=mother_h).json()
    assert again["revoked_at"] == shown["revoked_at"]


def test_a_delegation_ends_at_its_expiry(world: World) -> None:
    mother, mother_h = world.person("Mother")
    son, son_h = world.person("Son")
    now = world.vault.clock.now()
    delegation = appoint(world, mother_h, son, expires_at=(now + timedelta(days=1)).isoformat())
    assert world.http.get("/v1/me", headers=acting(son_h, mother)).status_code == 200
    clock(world).advance(timedelta(days=1, minutes=1))
    world.operator = bearer(
        world.token(
            grant_type="client_credentials", client_id="operator", client_secret=OPERATOR_SECRET
        )
    )
    son_h, mother_h = login(world, son), login(world, mother)
    assert world.http.get("/v1/me", headers=acting(son_h, mother)).status_code == 404
    shown = world.http.get(f"{CAREGIVERS}/{delegation['id']}", headers=mother_h).json()
    assert shown["active"] is False and shown["revoked_at"] is None


def test_a_delegation_is_for_one_person_only(world: World) -> None:
    mother, mother_h = world.person("Mother")
    father, _ = world.person("Father")
    son, son_h = world.person("Son")
    appoint(world, mother_h, son)
    assert world.http.get("/v1/me", headers=acting(son_h, mother)).status_code == 200
    assert world.http.get("/v1/me", headers=acting(son_h, father)).status_code == 404


def test_appointing_again_replaces_the_delegation(world: World) -> None:
    _, mother_h = world.person("Mother")
    son, _ = world.person("Son")
    first = appoint(world, mother_h, son)
    later = (world.vault.clock.now() + timedelta(days=90)).isoformat()
    second = appoint(world, mother_h, son, expires_at=later)
    items = world.http.get(CAREGIVERS, headers=mother_h).json()["items"]
    assert [(d["id"], d["active"]) for d in items] == [(second["id"], True), (first["id"], False)]


def test_unusable_appointments_are_refused(world: World) -> None:
    mother, mother_h = world.person("Mother")
    son, _ = world.person("Son")
    past = (world.vault.clock.now() - timedelta(minutes=1)).isoformat()
    for body, status, code in (
        ({"caregiver_id": mother}, 422, "caregiver_is_self"),
        ({"caregiver_id": MISSING}, 422, "unknown_caregiver"),
        ({"caregiver_id": son, "expires_at": past}, 422, "expiry_not_in_future"),
        ({"caregiver_id": son, "expires_at": "2027-01-01T00:00:00"}, 422, "validation_failed"),
        ({"caregiver_id": son, "role": "admin"}, 422, "validation_failed"),
    ):
        r = world.http.post(CAREGIVERS, headers=mother_h, json=body)
        assert (r.status_code, r.json()["code"]) == (status, code), body
    assert world.http.get(CAREGIVERS, headers=mother_h).json()["items"] == []


def test_another_persons_delegation_is_exactly_like_a_missing_one(world: World) -> None:
    mother, mother_h = world.person("Mother")
    son, son_h = world.person("Son")
    _, mallory = world.person("Mallory")
    delegation = appoint(world, mother_h, son)
    for method in ("GET", "DELETE"):
        theirs = world.http.request(method, f"{CAREGIVERS}/{delegation['id']}", headers=mallory)
        missing = world.http.request(method, f"{CAREGIVERS}/{MISSING}", headers=mallory)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.content == missing.content
    assert world.http.get("/v1/me", headers=acting(son_h, mother)).status_code == 200
