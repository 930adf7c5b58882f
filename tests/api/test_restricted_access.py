"""Restricted access over real HTTP: reason, OTP to the person, confirmation, 30 minutes
of access with a notification per view; wrong, expired and locked OTPs; other people's
requests; refusals that look like a missing person (R3, R10, R11).

In ``default.toml`` doctors see every category as general, so nurses are used:
``radiology_report`` is restricted for them, ``lab_report`` is general."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from tests.api.conftest import World
from tests.api.cross_border_support import (
    Staff,
    advance,
    last_seq,
    notifications,
    now,
    reasons,
    staff,
)
from vault.store.tables import RestrictedAccessRequest

REASON = "Pre-operative review: need the radiology report of the hip."
MISSING = "0" * 32


def _ask(nurse: Staff, pid: str, categories: tuple[str, ...] = ("radiology_report",)) -> str:
    response = nurse.post(
        f"/v1/patients/{pid}/restricted-access",
        {"reason": REASON, "categories": list(categories)},
    )
    assert response.status_code == 201, response.text
    rid: str = response.json()["id"]
    return rid


def _confirm(nurse: Staff, pid: str, rid: str, otp: str) -> Any:
    return nurse.post(f"/v1/patients/{pid}/restricted-access/{rid}/confirm", {"otp": otp})


def _otp(world: World, pid: str) -> str:
    """The latest OTP the person received, read as they would: their notifications."""
    sent = [n for n in notifications(world, pid) if n["event"] == "restricted_access_otp"]
    assert sent and sent[-1]["channel"] == "sms"
    otp: str = sent[-1]["detail"]
    assert len(otp) == 6 and otp.isdigit()
    return otp


def _wrong(otp: str) -> str:
    return f"{(int(otp) + 1) % 10**6:06d}"


def _records(world: World, pid: str) -> tuple[Staff, str, str]:
    ha = staff(world, "ha")
    radiology = world.deposit(pid, ha.headers(), category="radiology_report", content="hip: OA")
    lab = world.deposit(pid, ha.headers(), category="lab_report")
    return staff(world, "ha", "nurse"), radiology, lab


def test_reason_and_otp_open_restricted_categories_for_thirty_minutes(world: World) -> None:
    pid, _ = world.person()
    nurse, radiology, lab = _records(world, pid)
    records = f"/v1/patients/{pid}/records"
    assert [i["id"] for i in nurse.get(records).json()["items"]] == [lab]
    hidden = nurse.get(f"{records}/{radiology}")
    assert hidden.status_code == 404
    assert hidden.content == nurse.get(f"{records}/{MISSING}").content

    requested = nurse.post(
        f"/v1/patients/{pid}/restricted-access",
        {"reason": REASON, "categories": ["radiology_report", "radiology_report"]},
    )
    assert requested.status_code == 201, requested.text
    body = requested.json()
    assert set(body) == {"id", "categories", "otp_expires_at"}
    assert body["categories"] == ["radiology_report"]
    otp_expires = datetime.fromisoformat(body["otp_expires_at"])
    assert timedelta(minutes=9) < otp_expires - now(world) <= timedelta(minutes=10)
    otp = _otp(world, pid)
    assert otp not in requested.text

    wrong = _confirm(nurse, pid, body["id"], _wrong(otp))
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_otp"
    confirmed = _confirm(nurse, pid, body["id"], otp)
    assert confirmed.status_code == 200, confirmed.text
    grant = confirmed.json()
    assert grant["id"] == body["id"] and grant["categories"] == ["radiology_report"]
    expires = datetime.fromisoformat(grant["expires_at"])
    assert timedelta(minutes=29) < expires - now(world) <= timedelta(minutes=30)

    before = len(notifications(world, pid))
    assert nurse.get(f"{records}/{radiology}").status_code == 200
    assert nurse.get(f"{records}/{radiology}/content").text == "hip: OA"
    assert {i["id"] for i in nurse.get(records).json()["items"]} == {lab, radiology}
    told = notifications(world, pid)[before:]
    assert [n["event"] for n in told] == ["read_record", "read_content", "list_records"]
    assert {n["actor_id"] for n in told} == {nurse.id}
    assert "restricted_grant" in reasons(world, person_id=pid)

    advance(world, timedelta(minutes=29))
    assert nurse.get(f"{records}/{radiology}").status_code == 200
    advance(world, timedelta(minutes=1, seconds=1))
    assert nurse.get(f"{records}/{radiology}").status_code == 404
    assert [i["id"] for i in nurse.get(records).json()["items"]] == [lab]
    # a grant is for its professional only
    other_nurse = staff(world, "ha", "nurse")
    assert other_nurse.get(f"{records}/{radiology}").status_code == 404


def test_the_otp_is_stored_only_as_a_hash_and_the_reason_sealed(world: World) -> None:
    pid, _ = world.person()
    nurse, _, _ = _records(world, pid)
    rid = _ask(nurse, pid)
    otp = _otp(world, pid)
    with Session(world.vault.engine) as session:
        row = session.get(RestrictedAccessRequest, (pid, rid))
        assert row is not None
        stored = repr(row.model_dump()).encode() + row.reason_sealed
    assert otp.encode() not in stored
    assert b"Pre-operative" not in stored


def test_five_wrong_otps_lock_the_request_audited_and_notified(world: World) -> None:
    pid, _ = world.person()
    nurse, radiology, _ = _records(world, pid)
    rid = _ask(nurse, pid)
    otp = _otp(world, pid)
    start = last_seq(world)
    answers = [_confirm(nurse, pid, rid, _wrong(otp)) for _ in range(5)]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 423]
    assert answers[-1].json()["code"] == "locked_out"
    assert "retry-after" in answers[-1].headers  # the nurse is locked out for a while too
    assert _confirm(nurse, pid, rid, otp).status_code == 423  # even the right OTP

    advance(world, timedelta(minutes=15, seconds=1))
    for_good = _confirm(nurse, pid, rid, otp)  # the request stays locked
    assert for_good.status_code == 423 and "retry-after" not in for_good.headers
    assert nurse.get(f"/v1/patients/{pid}/records/{radiology}").status_code == 404

    trail = reasons(world, person_id=pid, since_seq=start)
    assert trail[:5] == ["wrong_otp"] * 5
    assert {"otp_locked_out", "client_locked_out", "client_locked", "otp_locked"} <= set(trail)
    locked = [n for n in notifications(world, pid) if n["event"] == "restricted_access_locked_out"]
    assert len(locked) == 1 and locked[0]["actor_id"] == nurse.id

    # a new request (a new OTP) works once the nurse's own lock has ended
    fresh = _ask(nurse, pid)
    assert _confirm(nurse, pid, fresh, _otp(world, pid)).status_code == 200


def test_failures_across_requests_lock_the_professional_out(world: World) -> None:
    pid, _ = world.person()
    nurse, _, _ = _records(world, pid)
    requests = [(_ask(nurse, pid), _otp(world, pid)) for _ in range(3)]
    answers = [_confirm(nurse, pid, rid, _wrong(otp)).status_code for rid, otp in requests]
    answers += [_confirm(nurse, pid, rid, _wrong(otp)).status_code for rid, otp in requests[:2]]
    assert answers == [400, 400, 400, 400, 423]
    rid, otp = requests[2]
    assert _confirm(nurse, pid, rid, otp).status_code == 423
    advance(world, timedelta(minutes=9))  # the OTP is still valid, the lock not yet over
    assert _confirm(nurse, pid, rid, otp).status_code == 423


def test_an_otp_expires_after_ten_minutes(world: World) -> None:
    pid, _ = world.person()
    nurse, _, _ = _records(world, pid)
    rid = _ask(nurse, pid)
    otp = _otp(world, pid)
    advance(world, timedelta(minutes=10))
    expired = _confirm(nurse, pid, rid, otp)
    assert expired.status_code == 400 and expired.json()["code"] == "otp_expired"
    assert "otp_expired" in reasons(world, person_id=pid)


def test_a_confirmed_request_cannot_be_confirmed_again(world: World) -> None:
    pid, _ = world.person()
    nurse, _, _ = _records(world, pid)
    rid = _ask(nurse, pid)
    otp = _otp(world, pid)
    assert _confirm(nurse, pid, rid, otp).status_code == 200
    again = _confirm(nurse, pid, rid, otp)
    assert again.status_code == 409 and again.json()["code"] == "already_confirmed"


def test_someone_elses_request_is_not_found(world: World) -> None:
    pid, _ = world.person()
    other, _ = world.person(name="Lee Siu Ming")
    nurse, radiology, _ = _records(world, pid)
    rid = _ask(nurse, pid)
    otp = _otp(world, pid)
    colleague = staff(world, "ha", "nurse")
    elsewhere = staff(world, "dh", "nurse")
    mainland = staff(world, "hku_sz")
    missing = _confirm(colleague, pid, MISSING, otp)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    for intruder in (colleague, elsewhere, mainland):
        answer = _confirm(intruder, pid, rid, otp)
        assert answer.status_code == 404 and answer.content == missing.content
    wrong_person = _confirm(nurse, other, rid, otp)
    assert wrong_person.status_code == 404 and wrong_person.content == missing.content
    assert reasons(world, person_id=pid).count("not_requester") == 3
    # none of that used up the request, and nobody else gained access
    assert _confirm(nurse, pid, rid, otp).status_code == 200
    assert colleague.get(f"/v1/patients/{pid}/records/{radiology}").status_code == 404


def test_refused_requests_look_like_a_missing_person(world: World) -> None:
    pid, _ = world.person()
    not_joined, _ = world.person(name="Ho Ka Yan", joined=False)
    body = {"reason": REASON, "categories": ["radiology_report"]}
    missing = staff(world, "ha", "nurse").post(f"/v1/patients/{MISSING}/restricted-access", body)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    refusals = [
        (staff(world, "hksh", "nurse"), pid),  # no sharing consent
        (staff(world, "ha", "nurse"), not_joined),
        (staff(world, "hku_sz"), pid),  # a Mainland professional
    ]
    for professional, person in refusals:
        answer = professional.post(f"/v1/patients/{person}/restricted-access", body)
        assert answer.status_code == 404 and answer.content == missing.content
    assert "no_sharing_consent" in reasons(world, person_id=pid)
    assert "not_joined" in reasons(world, person_id=not_joined)
    assert [n["event"] for n in notifications(world, pid)] == []  # no OTP was sent


def test_malformed_requests_are_refused(world: World) -> None:
    pid, me = world.person()
    nurse, _, _ = _records(world, pid)
    path = f"/v1/patients/{pid}/restricted-access"
    for body in (
        {"reason": "too short", "categories": ["radiology_report"]},
        {"reason": "          padded    ", "categories": ["radiology_report"]},
        {"reason": REASON, "categories": []},
        {"reason": REASON, "categories": ["x_rays"]},
        {"reason": REASON, "categories": ["radiology_report"], "minutes": 600},
    ):
        answer = nurse.post(path, body)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"
    rid = _ask(nurse, pid)
    for otp in ("12345", "1234567", "abcdef"):
        answer = _confirm(nurse, pid, rid, otp)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"
    citizen = world.http.post(
        path, headers=me, json={"reason": REASON, "categories": ["lab_report"]}
    )
    assert citizen.status_code == 403 and citizen.json()["code"] == "wrong_role"
