"""The person's own account over real HTTP: the profile, the access log (R11) and the
notifications, with sealed details opened only for the person; OpenAPI examples."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.conftest import World
from vault.core.ids import new_id
from vault.crypto import aad
from vault.store.engine import transaction
from vault.store.tables import Notification


def test_the_profile(world: World) -> None:
    pid, me = world.person("Chan Tai Man", dob="1950-05-17")
    r = world.http.get("/v1/me", headers=me)
    assert r.status_code == 200
    assert r.json() == {
        "id": pid,
        "name": "Chan Tai Man",
        "date_of_birth": "1950-05-17",
        "joined": True,
        "acting_as_caregiver_for": None,
    }
    _, other = world.person("Lee Siu Ming", joined=False)
    assert world.http.get("/v1/me", headers=other).json()["joined"] is False
    assert world.http.get("/v1/me").status_code == 401
    hksh = world.professional("hksh")
    assert world.http.get("/v1/me", headers=hksh).json()["code"] == "wrong_role"


def test_the_access_log_shows_who_viewed_and_who_was_refused(world: World) -> None:
    pid, me = world.person()
    ha = world.professional("ha")
    record_id = world.deposit(pid, ha)
    assert world.http.get(f"/v1/patients/{pid}/records/{record_id}", headers=ha).status_code == 200
    hksh = world.professional("hksh")
    assert (
        world.http.get(f"/v1/patients/{pid}/records/{record_id}", headers=hksh).status_code == 404
    )
    _, someone = world.person("Someone else")
    world.deposit(world.person("Third")[0], ha)

    r = world.http.get("/v1/me/access-log", headers=me)
    assert r.status_code == 200
    log = r.json()["items"]
    seqs = [e["seq"] for e in log]
    assert seqs == sorted(seqs, reverse=True)
    views = [e for e in log if e["action"] == "read_record"]
    assert [(e["institution_id"], e["allowed"], e["resource_id"]) for e in views] == [
        ("hksh", False, record_id),
        ("ha", True, record_id),
    ]
    assert views[0]["reason"] == "no_sharing_consent"
    assert {e["actor_kind"] for e in views} == {"hk_professional"}
    assert log[0]["action"] == "read_access_log"  # reading the log is logged first
    # only this person's entries
    assert len([e for e in log if e["action"] == "deposit_record"]) == 1
    theirs = world.http.get("/v1/me/access-log", headers=someone).json()["items"]
    assert all(e["resource_id"] != record_id for e in theirs)


def test_the_access_log_pages_by_cursor(world: World) -> None:
    _, me = world.person()
    for _ in range(4):
        world.http.get("/v1/me", headers=me)
    full = world.http.get("/v1/me/access-log", headers=me, params={"limit": 200}).json()
    assert full["next_cursor"] is None
    paged: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = world.http.get("/v1/me/access-log", headers=me, params=params).json()
        paged.extend(page["items"])
        assert len(page["items"]) <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # every page read is itself logged, after the first listing: compare what both saw
    first_seqs = [e["seq"] for e in full["items"]]
    assert [e["seq"] for e in paged if e["seq"] <= first_seqs[0]] == first_seqs


def test_bad_cursors_and_limits_are_refused(world: World) -> None:
    _, me = world.person()
    for path in ("/v1/me/access-log", "/v1/me/notifications"):
        for cursor in ("not-a-cursor", "WzEsMiwzXQ", "eyJhIjoxfQ"):
            r = world.http.get(path, headers=me, params={"cursor": cursor})
            assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", (path, cursor)
        assert world.http.get(path, headers=me, params={"limit": 0}).status_code == 422
        assert world.http.get(path, headers=me, params={"limit": 201}).status_code == 422


def test_each_view_by_a_provider_notifies_the_person(world: World) -> None:
    pid, me = world.person()
    ha = world.professional("ha")
    record_id = world.deposit(pid, ha)
    assert world.http.get("/v1/me/notifications", headers=me).json()["items"] == []
    world.http.get(f"/v1/patients/{pid}/records/{record_id}", headers=ha)
    world.http.get(f"/v1/me/records/{record_id}", headers=me)  # the person's own: no notice
    r = world.http.get("/v1/me/notifications", headers=me)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    items = r.json()["items"]
    assert [(n["event"], n["institution_id"], n["actor_kind"]) for n in items] == [
        ("read_record", "ha", "hk_professional")
    ]
    assert items[0]["channel"] == "sms" and items[0]["detail"] is None


def _sealed_notification(world: World, pid: str, detail: str, minutes: int) -> str:
    """A notification with a detail sealed under the person's key, as the OTP flow
    writes it (the AAD is ``vault.crypto.aad.notification_detail``)."""
    ident = new_id()
    with transaction(world.vault.engine) as session:
        key = world.vault.keys.get(session, pid)
        session.add(
            Notification(
                id=ident,
                person_id=pid,
                at=world.vault.clock.now() + timedelta(minutes=minutes),
                channel="sms",
                event="restricted_access_otp",
                actor_kind="hk_professional",
                actor_id="p1",
                institution_id="hksh",
                detail_sealed=key.seal(detail.encode(), aad=aad.notification_detail(ident)),
            )
        )
    return ident


def test_sealed_details_are_opened_for_the_person_and_the_caregiver(world: World) -> None:
    pid, me = world.person("Mother")
    son, son_h = world.person("Son")
    first = _sealed_notification(world, pid, "Your one-time password is 123456", 1)
    second = _sealed_notification(world, pid, "Your one-time password is 654321", 2)
    items = world.http.get("/v1/me/notifications", headers=me).json()["items"]
    assert [(n["id"], n["detail"]) for n in items] == [
        (second, "Your one-time password is 654321"),
        (first, "Your one-time password is 123456"),
    ]
    # paging: one at a time, newest first
    page = world.http.get("/v1/me/notifications", headers=me, params={"limit": 1}).json()
    assert [n["id"] for n in page["items"]] == [second]
    rest = world.http.get(
        "/v1/me/notifications", headers=me, params={"limit": 1, "cursor": page["next_cursor"]}
    ).json()
    assert [n["id"] for n in rest["items"]] == [first] and rest["next_cursor"] is None
    # a caregiver reads them for the person; anyone else learns nothing
    as_mother = {**son_h, "On-Behalf-Of": pid}
    assert world.http.get("/v1/me/notifications", headers=as_mother).status_code == 404
    world.http.post("/v1/me/caregivers", headers=me, json={"caregiver_id": son})
    cared = world.http.get("/v1/me/notifications", headers=as_mother).json()["items"]
    assert [n["detail"] for n in cared] == [n["detail"] for n in items]
    assert world.http.get("/v1/me/notifications", headers=son_h).json()["items"] == []


def test_a_detail_moved_to_another_notification_does_not_open(world: World) -> None:
    pid, me = world.person()
    ident = _sealed_notification(world, pid, "Your one-time password is 123456", 1)
    other = _sealed_notification(world, pid, "Your one-time password is 999999", 2)
    with transaction(world.vault.engine) as session:
        moved = session.get(Notification, (pid, ident))
        target = session.get(Notification, (pid, other))
        assert moved is not None and target is not None
        target.detail_sealed = moved.detail_sealed
        session.add(target)
    r = world.http.get("/v1/me/notifications", headers=me)
    assert r.status_code == 500 and r.json()["code"] == "integrity_failure"
    assert "123456" not in r.text


def test_every_request_body_has_an_example(world: World) -> None:
    spec = world.http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    bodies = 0
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/me"):
            continue
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                assert schemas[name].get("examples"), (path, name)
                assert schemas[name].get("additionalProperties") is False, (path, name)
                bodies += 1
    assert bodies >= 6
