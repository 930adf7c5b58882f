"""Sharing consents over real HTTP: give, list, read, renew, switch, revoke — and what a
Hong Kong provider can read at each step (R3, R8)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.api.conftest import OPERATOR_SECRET, PASSWORD, World
from tests.support.http import bearer
from vault.core.clock import SimulatedClock

CONSENTS = "/v1/me/sharing-consents"
MISSING = "0" * 32


def clock(world: World) -> SimulatedClock:
    """The server's clock (the world fixture runs the server in-process, simulated)."""
    assert isinstance(world.vault.clock, SimulatedClock)
    return world.vault.clock


def give(world: World, me: dict[str, str], institution_id: str = "hksh", **body: Any) -> Any:
    payload = {"institution_id": institution_id, "kind": "one_year", "scopes": ["ehr"], **body}
    r = world.http.post(CONSENTS, headers=me, json=payload)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{CONSENTS}/{r.json()['id']}"
    return r.json()


def login(world: World, pid: str) -> dict[str, str]:
    return bearer(world.token(grant_type="password", username=pid, password=PASSWORD))


def advance(world: World, by: timedelta) -> None:
    """Move the server's clock on; tokens issued before have expired, so the operator
    logs in again (people log in again with :func:`login`)."""
    clock(world).advance(by)
    world.operator = bearer(
        world.token(
            grant_type="client_credentials", client_id="operator", client_secret=OPERATOR_SECRET
        )
    )


def reads(world: World, pid: str, record_id: str, headers: dict[str, str]) -> int:
    return world.http.get(f"/v1/patients/{pid}/records/{record_id}", headers=headers).status_code


def test_give_list_get_and_the_answer_shape(world: World) -> None:
    _, me = world.person()
    consent = give(world, me, scopes=["personal_folder", "ehr"])
    assert consent["institution_id"] == "hksh"
    assert consent["kind"] == "one_year"
    assert consent["scopes"] == ["ehr", "personal_folder"]
    assert consent["active"] is True and consent["revoked_at"] is None
    granted = datetime.fromisoformat(consent["granted_at"])
    expires = datetime.fromisoformat(consent["expires_at"])
    assert expires == granted.replace(year=granted.year + 1)
    indefinite = give(world, me, "matilda", kind="indefinite")
    assert indefinite["expires_at"] is None

    listed = world.http.get(CONSENTS, headers=me)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [indefinite["id"], consent["id"]]
    one = world.http.get(f"{CONSENTS}/{consent['id']}", headers=me)
    assert one.status_code == 200 and one.json() == consent


def test_consent_lets_a_private_hospital_read_and_revocation_stops_it_at_once(
    world: World,
) -> None:
    pid, me = world.person()
    record_id = world.deposit(pid, world.professional("ha"))
    hksh = world.professional("hksh")
    assert reads(world, pid, record_id, hksh) == 404
    consent = give(world, me)
    assert reads(world, pid, record_id, hksh) == 200

    revoked = world.http.delete(f"{CONSENTS}/{consent['id']}", headers=me)
    assert revoked.status_code == 204 and revoked.content == b""
    assert reads(world, pid, record_id, hksh) == 404
    after = world.http.get(f"{CONSENTS}/{consent['id']}", headers=me).json()
    assert after["active"] is False and after["revoked_at"] is not None
    # idempotent: revoking again changes nothing
    assert world.http.delete(f"{CONSENTS}/{consent['id']}", headers=me).status_code == 204
    again = world.http.get(f"{CONSENTS}/{consent['id']}", headers=me).json()
    assert again["revoked_at"] == after["revoked_at"]


def test_consent_scope_limits_what_is_shared(world: World) -> None:
    pid, me = world.person()
    record_id = world.deposit(pid, world.professional("ha"))
    hksh = world.professional("hksh")
    give(world, me, scopes=["personal_folder"])
    assert reads(world, pid, record_id, hksh) == 404  # an eHR; only the folder is shared


def test_a_one_year_consent_expires_after_a_year_and_renewal_restores_it(world: World) -> None:
    pid, me = world.person()
    record_id = world.deposit(pid, world.professional("ha"))
    consent = give(world, me)
    advance(world, timedelta(days=366))
    me = login(world, pid)
    hksh = world.professional("hksh")
    assert reads(world, pid, record_id, hksh) == 404
    assert world.http.get(f"{CONSENTS}/{consent['id']}", headers=me).json()["active"] is False

    renewed = world.http.post(f"{CONSENTS}/{consent['id']}/renew", headers=me)
    assert renewed.status_code == 201, renewed.text
    new = renewed.json()
    assert new["id"] != consent["id"] and new["active"] is True
    assert renewed.headers["location"] == f"{CONSENTS}/{new['id']}"
    assert datetime.fromisoformat(new["expires_at"]) > datetime.fromisoformat(
        consent["expires_at"]
    ) + timedelta(days=365)
    assert reads(world, pid, record_id, hksh) == 200


def test_an_indefinite_consent_outlives_a_year(world: World) -> None:
    pid, me = world.person()
    record_id = world.deposit(pid, world.professional("ha"))
    give(world, me, kind="indefinite")
    advance(world, timedelta(days=366 * 3))
    assert reads(world, pid, record_id, world.professional("hksh")) == 200


def test_renewing_an_active_consent_replaces_it(world: World) -> None:
    pid, me = world.person()
    record_id = world.deposit(pid, world.professional("ha"))
    old = give(world, me)
    advance(world, timedelta(days=200))
    me = login(world, pid)
    new = world.http.post(f"{CONSENTS}/{old['id']}/renew", headers=me).json()
    assert new["scopes"] == old["scopes"] and new["kind"] == "one_year"
    items = world.http.get(CONSENTS, headers=me).json()["items"]
    assert [(c["id"], c["active"]) for c in items] == [(new["id"], True), (old["id"], False)]
    assert items[1]["revoked_at"] == new["granted_at"]  # no gap, no overlap
    advance(world, timedelta(days=200))  # past the old consent's year
    assert reads(world, pid, record_id, world.professional("hksh")) == 200


def test_renew_refuses_revoked_and_indefinite_consents(world: World) -> None:
    _, me = world.person()
    revoked = give(world, me)
    world.http.delete(f"{CONSENTS}/{revoked['id']}", headers=me)
    r = world.http.post(f"{CONSENTS}/{revoked['id']}/renew", headers=me)
    assert r.status_code == 409 and r.json()["code"] == "consent_revoked"
    # the refused renewal is audited all the same (only its effect was undone)
    log = world.http.get("/v1/me/access-log", headers=me).json()["items"]
    grants = [e for e in log if e["action"] == "grant_sharing_consent"]
    assert [e["resource_id"] for e in grants] == [revoked["id"], revoked["id"]]  # renew, give
    assert [c["id"] for c in world.http.get(CONSENTS, headers=me).json()["items"]] == [
        revoked["id"]
    ]
    indefinite = give(world, me, "matilda", kind="indefinite")
    r = world.http.post(f"{CONSENTS}/{indefinite['id']}/renew", headers=me)
    assert r.status_code == 409 and r.json()["code"] == "consent_indefinite"
    assert r.headers["content-type"] == "application/problem+json"


def test_switch_between_one_year_and_indefinite(world: World) -> None:
    pid, me = world.person()
    record_id = world.deposit(pid, world.professional("ha"))
    old = give(world, me)
    r = world.http.patch(f"{CONSENTS}/{old['id']}", headers=me, json={"kind": "indefinite"})
    assert r.status_code == 200, r.text
    switched = r.json()
    assert switched["kind"] == "indefinite" and switched["expires_at"] is None
    assert switched["id"] != old["id"] and r.headers["location"] == f"{CONSENTS}/{switched['id']}"
    assert world.http.get(f"{CONSENTS}/{old['id']}", headers=me).json()["active"] is False
    # the same kind again: nothing changes
    same = world.http.patch(f"{CONSENTS}/{switched['id']}", headers=me, json={"kind": "indefinite"})
    assert same.status_code == 200 and same.json() == switched
    advance(world, timedelta(days=400))
    assert reads(world, pid, record_id, world.professional("hksh")) == 200
    me = login(world, pid)
    back = world.http.patch(f"{CONSENTS}/{switched['id']}", headers=me, json={"kind": "one_year"})
    assert back.status_code == 200 and back.json()["expires_at"] is not None
    # a consent no longer in force cannot be switched
    stale = world.http.patch(f"{CONSENTS}/{old['id']}", headers=me, json={"kind": "one_year"})
    assert stale.status_code == 409 and stale.json()["code"] == "consent_not_active"


def test_giving_again_replaces_the_consent_in_force(world: World) -> None:
    _, me = world.person()
    first = give(world, me, scopes=["ehr"])
    second = give(world, me, scopes=["ehr", "personal_folder"])
    items = world.http.get(CONSENTS, headers=me).json()["items"]
    assert [(c["id"], c["active"]) for c in items] == [(second["id"], True), (first["id"], False)]


def test_ha_consent_is_accepted_and_opens_the_personal_folder(world: World) -> None:
    pid, me = world.person()
    folder = world.http.post(
        "/v1/me/folder",
        headers=me,
        json={
            "category": "lab_report",
            "clinical_date": "2025-09-01",
            "title": "Shenzhen lab",
            "content": "ALT 30 U/L",
            "content_type": "text/plain",
        },
    )
    assert folder.status_code == 201, folder.text
    ha = world.professional("ha")
    assert reads(world, pid, folder.json()["id"], ha) == 404  # implied sharing: eHR only
    consent = give(world, me, "ha", kind="indefinite", scopes=["personal_folder"])
    assert reads(world, pid, folder.json()["id"], ha) == 200
    world.http.delete(f"{CONSENTS}/{consent['id']}", headers=me)
    assert reads(world, pid, folder.json()["id"], ha) == 404
    ehr = world.deposit(pid, ha)
    assert reads(world, pid, ehr, ha) == 200  # implied eHR sharing survives


def test_only_hong_kong_institutions(world: World) -> None:
    _, me = world.person()
    body = {"kind": "one_year", "scopes": ["ehr"]}
    mainland = world.http.post(CONSENTS, headers=me, json={"institution_id": "hku_sz", **body})
    assert mainland.status_code == 422
    assert mainland.json()["code"] == "not_a_hong_kong_institution"
    unknown = world.http.post(CONSENTS, headers=me, json={"institution_id": "nowhere", **body})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_institution"
    assert world.http.get(CONSENTS, headers=me).json()["items"] == []


def test_bad_bodies_are_refused(world: World) -> None:
    _, me = world.person()
    good = {"institution_id": "hksh", "kind": "one_year", "scopes": ["ehr"]}
    for bad in (
        {**good, "extra": 1},
        {**good, "kind": "two_years"},
        {**good, "scopes": []},
        {**good, "scopes": ["radiology"]},
        {"kind": "one_year", "scopes": ["ehr"]},
    ):
        r = world.http.post(CONSENTS, headers=me, json=bad)
        assert r.status_code == 422 and r.json()["code"] == "validation_failed", bad
    r = world.http.patch(f"{CONSENTS}/{MISSING}", headers=me, json={"kind": "x"})
    assert r.status_code == 422
    assert world.http.get(CONSENTS, headers=me).json()["items"] == []


def test_another_persons_consent_is_exactly_like_a_missing_one(world: World) -> None:
    _, alice = world.person("Alice")
    _, mallory = world.person("Mallory")
    consent = give(world, alice)
    for method, suffix, body in (
        ("GET", "", None),
        ("DELETE", "", None),
        ("POST", "/renew", None),
        ("PATCH", "", {"kind": "indefinite"}),
    ):
        theirs = world.http.request(
            method, f"{CONSENTS}/{consent['id']}{suffix}", headers=mallory, json=body
        )
        missing = world.http.request(
            method, f"{CONSENTS}/{MISSING}{suffix}", headers=mallory, json=body
        )
        assert theirs.status_code == missing.status_code == 404, (method, suffix)
        assert theirs.content == missing.content
    assert world.http.get(f"{CONSENTS}/{consent['id']}", headers=alice).json()["active"] is True


def test_every_consent_action_is_in_the_access_log(world: World) -> None:
    _, me = world.person()
    consent = give(world, me)
    world.http.delete(f"{CONSENTS}/{consent['id']}", headers=me)
    log = world.http.get("/v1/me/access-log", headers=me).json()["items"]
    actions = [(e["action"], e["resource_id"], e["allowed"]) for e in log]
    assert ("grant_sharing_consent", consent["id"], True) in actions
    assert ("manage_consents", consent["id"], True) in actions


def test_citizen_endpoints_need_a_citizen_token(world: World) -> None:
    hksh = world.professional("hksh")
    r = world.http.get(CONSENTS, headers=hksh)
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"
    assert world.http.get(CONSENTS).status_code == 401
