"""Reading through a cross-border viewing session over real HTTP: exactly the last three
years of eHRs (Hong Kong dates, 29 Feb), the end of a session (revocation, expiry), other
professionals' sessions, and a notification for every view (R4, R8, R10, R11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.api.conftest import World
from tests.api.cross_border_support import (
    SESSIONS,
    Staff,
    advance,
    audit_trail,
    authorise,
    citizen,
    hk,
    last_seq,
    notifications,
    reasons,
    revoke,
    set_clock,
    staff,
    stored_notifications,
)

MISSING = "0" * 32


def _session(world: World, pid: str, institution_id: str = "hku_sz") -> tuple[Staff, str]:
    doctor = staff(world, institution_id)
    opened = doctor.open(authorise(world, pid, institution_id))
    assert opened.status_code == 201, opened.text
    return doctor, opened.json()["session_id"]


def _deposit(world: World, pid: str, depositor: Staff, clinical_date: str, **kw: str) -> str:
    return world.deposit(pid, depositor.headers(), clinical_date=clinical_date, **kw)


def _listed(doctor: Staff, sid: str, **params: str) -> list[str]:
    response = doctor.get(f"{SESSIONS}/{sid}/records", **params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_session_sees_exactly_the_last_three_years_by_hong_kong_date(world: World) -> None:
    # 01:00 on 2 March in Hong Kong is still 1 March in UTC: the lookback starts on
    # 2023-03-02, the Hong Kong date three years back.
    set_clock(world, datetime(2026, 3, 1, 17, 0, tzinfo=UTC))
    pid, _ = world.person()
    ha = staff(world, "ha")
    too_old = _deposit(world, pid, ha, "2023-03-01")
    first_day = _deposit(world, pid, ha, "2023-03-02", content="first day in")
    today = _deposit(world, pid, ha, "2026-03-02", category="medication")
    tomorrow = world.http.post(
        f"/v1/patients/{pid}/records",
        headers=ha.headers(),
        json={
            "category": "lab_report",
            "clinical_date": "2026-03-03",
            "title": "tomorrow",
            "content": "not yet",
            "content_type": "text/plain",
        },
    )
    assert tomorrow.status_code == 422 and tomorrow.json()["code"] == "clinical_date_in_future"
    folder = world.http.post(
        "/v1/me/folder",
        headers=citizen(world, pid),
        json={
            "category": "lab_report",
            "clinical_date": "2025-01-01",
            "title": "Shenzhen lab",
            "content": "filed by the person",
            "content_type": "text/plain",
        },
    )
    assert folder.status_code == 201, folder.text

    doctor, sid = _session(world, pid)
    assert _listed(doctor, sid) == [today, first_day]
    assert _listed(doctor, sid, since="2000-01-01", until="2030-01-01") == [today, first_day]
    assert _listed(doctor, sid, category="medication") == [today]
    assert _listed(doctor, sid, source="personal_folder") == []

    missing = doctor.get(f"{SESSIONS}/{sid}/records/{MISSING}")
    assert missing.status_code == 404
    for hidden in (too_old, folder.json()["id"]):
        for suffix in ("", "/content"):
            answer = doctor.get(f"{SESSIONS}/{sid}/records/{hidden}{suffix}")
            assert answer.status_code == 404 and answer.content == missing.content
    assert doctor.get(f"{SESSIONS}/{sid}/records/{first_day}").json()["clinical_date"] == (
        "2023-03-02"
    )
    content = doctor.get(f"{SESSIONS}/{sid}/records/{first_day}/content")
    assert content.status_code == 200 and content.text == "first day in"
    assert content.headers["cache-control"] == "no-store"


def test_on_29_february_the_lookback_starts_on_28_february(world: World) -> None:
    set_clock(world, hk(2028, 2, 29))
    pid, _ = world.person()
    ha = staff(world, "ha")
    _deposit(world, pid, ha, "2025-02-27")
    inside = _deposit(world, pid, ha, "2025-02-28")
    leap_day = _deposit(world, pid, ha, "2028-02-29")
    doctor = staff(world, "hku_sz")
    opened = doctor.open(authorise(world, pid, "hku_sz"))
    assert opened.status_code == 201, opened.text
    assert opened.json()["visible_since"] == "2025-02-28"
    assert _listed(doctor, opened.json()["session_id"]) == [leap_day, inside]


def test_revoking_the_authorisation_ends_the_session_at_once(world: World) -> None:
    pid, _ = world.person()
    ha = staff(world, "ha")
    record = _deposit(world, pid, ha, "2025-06-01")
    doctor = staff(world, "hku_sz")
    codes = authorise(world, pid, "hku_sz")
    sid = doctor.open(codes).json()["session_id"]
    assert _listed(doctor, sid) == [record]

    revoke(world, pid, codes)
    missing = doctor.get(f"{SESSIONS}/{sid}/records/{MISSING}")
    for path in ("", f"/{record}", f"/{record}/content"):
        answer = doctor.get(f"{SESSIONS}/{sid}/records{path}")
        assert answer.status_code == 404 and answer.content == missing.content
    assert reasons(world, person_id=pid)[-3:] == ["authorisation_revoked"] * 3


def test_a_session_ends_after_two_hours(world: World) -> None:
    pid, _ = world.person()
    record = _deposit(world, pid, staff(world, "ha"), "2025-06-01")
    doctor, sid = _session(world, pid)
    advance(world, timedelta(minutes=119))
    assert _listed(doctor, sid) == [record]
    advance(world, timedelta(minutes=1, seconds=1))
    assert doctor.get(f"{SESSIONS}/{sid}/records").status_code == 404
    assert doctor.get(f"{SESSIONS}/{sid}/records/{record}/content").status_code == 404
    assert reasons(world, person_id=pid)[-2:] == ["session_expired"] * 2


def test_someone_elses_session_is_not_found(world: World) -> None:
    pid, _ = world.person()
    record = _deposit(world, pid, staff(world, "ha"), "2025-06-01")
    _owner, sid = _session(world, pid)
    colleague = staff(world, "hku_sz")
    elsewhere = staff(world, "sysu_first_affiliated")
    hong_kong = staff(world, "ha")  # holds implied sharing: must still not use the session
    for path in ("", f"/{record}", f"/{record}/content"):
        nowhere = colleague.get(f"{SESSIONS}/{MISSING}/records{path}")
        assert nowhere.status_code == 404
        for intruder in (colleague, elsewhere, hong_kong):
            answer = intruder.get(f"{SESSIONS}/{sid}/records{path}")
            assert answer.status_code == 404 and answer.content == nowhere.content
    trail = reasons(world, person_id=pid)
    assert trail.count("wrong_professional") == 3  # the colleague
    assert trail.count("wrong_institution") == 6  # the other hospital and the HA doctor


def test_a_session_shows_only_its_own_person(world: World) -> None:
    pid, _ = world.person()
    other, _ = world.person(name="Lee Siu Ming")
    ha = staff(world, "ha")
    _deposit(world, pid, ha, "2025-06-01")
    theirs = _deposit(world, other, ha, "2025-06-01")
    doctor, sid = _session(world, pid)
    assert theirs not in _listed(doctor, sid)
    assert doctor.get(f"{SESSIONS}/{sid}/records/{theirs}").status_code == 404
    assert doctor.get(f"{SESSIONS}/{sid}/records/{theirs}/content").status_code == 404


def test_the_person_is_notified_of_every_cross_border_view(world: World) -> None:
    pid, _ = world.person()
    ha = staff(world, "ha")
    record = _deposit(world, pid, ha, "2025-06-01")
    too_old = _deposit(world, pid, ha, "2020-06-01")
    doctor, sid = _session(world, pid)
    before = len(notifications(world, pid))
    assert doctor.get(f"{SESSIONS}/{sid}/records").status_code == 200
    assert doctor.get(f"{SESSIONS}/{sid}/records/{record}").status_code == 200
    assert doctor.get(f"{SESSIONS}/{sid}/records/{record}/content").status_code == 200
    assert doctor.get(f"{SESSIONS}/{sid}/records/{too_old}").status_code == 404  # no view
    told = notifications(world, pid)[before:]
    assert [n["event"] for n in told] == ["list_records", "read_record", "read_content"]
    assert {(n["actor_id"], n["institution_id"], n["channel"]) for n in told} == {
        (doctor.id, "hku_sz", "sms")
    }


def test_a_list_whose_title_fails_to_open_is_still_audited_and_notified(world: World) -> None:
    """The page is chosen and the view audited (and notified) in one transaction; titles
    are opened after it commits. A damaged title does not fail the list: its item says it
    is damaged (no title), the others are answered, and the failure is audited (R11)."""
    pid, _ = world.person()
    record = _deposit(world, pid, staff(world, "ha"), "2025-06-01")
    doctor, sid = _session(world, pid)
    with world.vault.engine.begin() as connection:
        damaged = connection.execute(
            text("UPDATE record SET title_sealed = :junk WHERE id = :id"),
            {"junk": b"\x00" * 40, "id": record},
        )
        assert damaged.rowcount == 1
    since = last_seq(world)
    told = len(stored_notifications(world, pid))
    response = doctor.get(f"{SESSIONS}/{sid}/records")
    assert response.status_code == 200, response.text
    (item,) = [i for i in response.json()["items"] if i["id"] == record]
    assert item["damaged"] is True and item["title"] is None
    assert "lab_report test" not in response.text
    trail = [e for e in audit_trail(world, person_id=pid) if (e.chain_id, e.seq) not in since]
    assert [(e.action, e.allowed, e.reason) for e in trail] == [
        ("list_records", True, "cross_border_session"),
        ("list_records", False, "integrity_failure"),
    ]
    assert len(stored_notifications(world, pid)) == told + 1
