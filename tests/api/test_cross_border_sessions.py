"""Opening cross-border viewing sessions over real HTTP: the right pair, every wrong one,
lock-outs, designation dates and the authorisation's life (R4, R7, R8)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.api.conftest import World
from tests.api.cross_border_support import (
    SESSIONS,
    Codes,
    advance,
    authorise,
    events,
    hk,
    insert_authorisation,
    last_seq,
    now,
    reasons,
    revoke,
    set_clock,
    staff,
    unknown_codes,
)


def test_the_right_pair_opens_a_session_bound_to_the_professional(world: World) -> None:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    doctor = staff(world, "hku_sz")
    opened_at = now(world)
    response = doctor.open(codes)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"session_id", "person_id", "expires_at", "visible_since"}
    assert body["person_id"] == pid
    assert body["visible_since"] == "2023-03-02"  # three years before 2026-03-02 (HK)
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=119) < expires - opened_at <= timedelta(minutes=120, seconds=5)
    assert "cross_border_authorisation" in reasons(world, person_id=pid)
    assert events(world, pid)[-1] == "cross_border_session_opened"


def test_a_session_never_outlives_its_authorisation(world: World) -> None:
    pid, _ = world.person()
    issued = now(world) - timedelta(days=30) + timedelta(minutes=45)
    codes = insert_authorisation(world, pid, "hku_sz", issued_at=issued)
    response = staff(world, "hku_sz").open(codes)
    assert response.status_code == 201, response.text
    expires = datetime.fromisoformat(response.json()["expires_at"])
    assert expires == issued + timedelta(days=30)


def test_every_wrong_pair_gets_the_same_answer(world: World) -> None:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    doctor = staff(world, "hku_sz")
    other_hospital = staff(world, "sysu_first_affiliated")
    start = last_seq(world)

    wrong_passcode = doctor.open(codes.wrong_passcode())
    wrong_code = doctor.open(Codes(codes.id, unknown_codes().application_code, codes.passcode))
    swapped = doctor.open(Codes(codes.id, codes.passcode, codes.application_code))
    elsewhere = other_hospital.open(codes)  # the right pair, issued for another institution

    answers = [wrong_passcode, wrong_code, swapped, elsewhere]
    assert {r.status_code for r in answers} == {400}
    assert len({r.content for r in answers}) == 1
    assert wrong_passcode.json()["code"] == "invalid_codes"
    assert wrong_passcode.headers["content-type"] == "application/problem+json"
    assert codes.passcode not in wrong_passcode.text
    # the audit log keeps the real reasons; the person sees attempts on their codes
    assert reasons(world, since_seq=start) == [
        "wrong_passcode",
        "unknown_application_code",
        "unknown_application_code",
        "wrong_institution",
    ]
    assert reasons(world, person_id=pid, since_seq=start) == ["wrong_passcode", "wrong_institution"]


def test_five_failures_lock_the_codes_and_the_professional(world: World) -> None:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    guesser = staff(world, "hku_sz")
    colleague = staff(world, "hku_sz")
    start = last_seq(world)

    for _ in range(4):
        assert guesser.open(codes.wrong_passcode()).status_code == 400
    fifth = guesser.open(codes.wrong_passcode())
    assert fifth.status_code == 423, fifth.text
    assert fifth.json()["code"] == "locked_out"
    assert 895 <= int(fifth.headers["retry-after"]) <= 900

    # even the right pair is refused while locked: the guesser is locked out for a while...
    still = guesser.open(codes)
    assert still.status_code == 423 and "retry-after" in still.headers
    # ...and the codes for good, whoever presents them
    for presenter in (colleague, guesser):
        if presenter is guesser:
            advance(world, timedelta(minutes=15, seconds=1))
        refused = presenter.open(codes)
        assert refused.status_code == 423 and refused.json()["code"] == "locked_out"
        assert "retry-after" not in refused.headers

    trail = reasons(world, person_id=pid, since_seq=start)
    assert trail[:5] == ["wrong_passcode"] * 5
    assert {"codes_locked_out", "client_locked_out"} <= set(trail)
    assert trail.count("codes_locked") == 2  # the colleague's and the guesser's later tries
    assert events(world, pid).count("cross_border_locked_out") == 1

    # the guesser's own lock has ended: a fresh pair of the person opens a session
    assert guesser.open(authorise(world, pid, "hku_sz")).status_code == 201


def test_guessing_application_codes_locks_the_client_out_for_fifteen_minutes(
    world: World,
) -> None:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    guesser = staff(world, "hku_sz")
    start = last_seq(world)
    answers = [guesser.open(unknown_codes()).status_code for _ in range(5)]
    assert answers == [400, 400, 400, 400, 423]
    assert guesser.open(codes).status_code == 423  # a valid pair does not help
    assert reasons(world, since_seq=start) == [
        *["unknown_application_code"] * 5,
        "client_locked_out",
        "client_locked",
    ]
    assert events(world, pid) == []  # nobody's codes were being tried
    advance(world, timedelta(minutes=14))
    assert guesser.open(codes).status_code == 423
    advance(world, timedelta(minutes=1, seconds=1))
    assert guesser.open(codes).status_code == 201


def test_twenty_failures_lock_the_whole_institution_out(world: World) -> None:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    for _ in range(4):
        guesser = staff(world, "hku_sz")
        answers = [guesser.open(unknown_codes()).status_code for _ in range(5)]
        assert answers[-1] == 423
    newcomer = staff(world, "hku_sz")
    assert newcomer.open(codes).status_code == 423
    assert staff(world, "dongguan_tungwah").open(unknown_codes()).status_code == 400


def test_a_success_clears_the_pairs_count_but_not_the_professionals(world: World) -> None:
    """The pair's own count starts again after it opened a session; the professional's
    window of failures does not: four wrong codes, one own valid pair, one more wrong code
    is the fifth failure in the window, and locks the professional out (#15)."""
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    doctor = staff(world, "hku_sz")
    for _ in range(4):
        assert doctor.open(codes.wrong_passcode()).status_code == 400
    assert doctor.open(codes).status_code == 201
    locked = doctor.open(codes.wrong_passcode())
    assert locked.status_code == 423 and int(locked.headers["Retry-After"]) > 0
    other = staff(world, "hku_sz")  # the pair itself is not locked: 1 failure since it opened
    assert other.open(codes).status_code == 201


def test_an_institution_is_refused_before_its_designation_date(world: World) -> None:
    set_clock(world, hk(2025, 7, 1))  # pilot rules: 65+, 72 h processing
    pid, _ = world.person(dob="1950-05-17")
    four_days_ago = now(world) - timedelta(days=4)
    clifford = insert_authorisation(world, pid, "guangdong_clifford", issued_at=four_days_ago)
    undesignated = staff(world, "guangdong_clifford").open(clifford)
    assert undesignated.status_code == 403, undesignated.text
    assert undesignated.json()["code"] == "not_designated"
    assert "not_designated" in reasons(world, person_id=pid)

    # the institution designated since 2024-07-15 is fine, once processing is over
    hku = staff(world, "hku_sz")
    assert hku.open(insert_authorisation(world, pid, "hku_sz", issued_at=four_days_ago)).is_success
    pending = hku.open(insert_authorisation(world, pid, "hku_sz", issued_at=now(world)))
    assert pending.status_code == 403 and pending.json()["code"] == "authorisation_pending"

    # from its designation date on, the same institution may open sessions
    set_clock(world, hk(2025, 8, 1, hour=9))
    fresh = insert_authorisation(world, pid, "guangdong_clifford", issued_at=hk(2025, 7, 28))
    assert staff(world, "guangdong_clifford").open(fresh).status_code == 201


def test_a_revoked_or_expired_authorisation_opens_nothing(world: World) -> None:
    pid, _ = world.person()
    doctor = staff(world, "hku_sz")
    revoked = authorise(world, pid, "hku_sz")
    revoke(world, pid, revoked)
    answer = doctor.open(revoked)
    assert answer.status_code == 403 and answer.json()["code"] == "authorisation_inactive"

    expired = authorise(world, pid, "hku_sz")
    advance(world, timedelta(days=30, seconds=1))
    answer = doctor.open(expired)
    assert answer.status_code == 403 and answer.json()["code"] == "authorisation_inactive"
    assert {"authorisation_revoked", "authorisation_expired"} <= set(reasons(world, person_id=pid))


def test_only_a_mainland_professional_opens_sessions(world: World) -> None:
    pid, me = world.person()
    codes = authorise(world, pid, "hku_sz")
    hk_doctor = staff(world, "ha")
    for headers in (hk_doctor.headers(), me):
        answer = world.http.post(SESSIONS, headers=headers, json=codes.body())
        assert answer.status_code == 403 and answer.json()["code"] == "wrong_role"
    anonymous = world.http.post(SESSIONS, json=codes.body())
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "invalid_token"


def test_malformed_bodies_are_refused_without_counting(world: World) -> None:
    pid, _ = world.person()
    codes = authorise(world, pid, "hku_sz")
    doctor = staff(world, "hku_sz")
    for body in (
        {"application_code": codes.application_code},
        {**codes.body(), "institution_id": "hku_sz"},
        {"application_code": "x" * 101, "passcode": codes.passcode},
    ):
        answer = world.http.post(SESSIONS, headers=doctor.headers(), json=body)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"
        assert codes.passcode not in answer.text
    for _ in range(4):
        doctor.open(codes.wrong_passcode())
    assert doctor.open(codes).status_code == 201  # the 422s counted for nothing
