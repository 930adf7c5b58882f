"""Token attacks of issue 8 item 2 that ``tests/api/test_token_attacks.py`` does not make.

That module covers ``alg: none``, HS256 signed with the public key, unknown and injected
``kid`` (and keys offered in the header), expired and not-yet-valid tokens, wrong issuer and
audience, stripped signatures, and a citizen's ``On-Behalf-Of`` someone who never delegated
on the read endpoints. Here:

- a professional token of institution A on institution B's viewing session: A's real token
  (a designated Mainland institution, and an HK one) gets B's session as the plain 404 of a
  session that does not exist, and the refusal is audited without notifying the person;
  A's professional with a token re-signed to claim institution B is not authenticated;
- a citizen's ``On-Behalf-Of`` someone who never delegated, on every *write* of the citizen
  API: the same 404 as for a stranger's id, and nothing is stored. (This test found
  ``POST /v1/me/folder`` answering 403 ``forbidden`` there; it is the 404 since 05ae2d4.)
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import Session, func, select

from tests.api.conftest import World, api_settings, world
from tests.api.cross_border_support import SESSIONS, authorise, reasons, staff
from tests.api.test_token_attacks import Forge, assert_refused, forge, payload_of
from tests.support.http import bearer
from vault.store.tables import (
    CaregiverDelegation,
    CrossBorderAuthorisation,
    Notification,
    RadiologyAuthorisation,
    Record,
    SharingConsent,
)

__all__ = ["api_settings", "forge", "world"]

MISSING = "0" * 32


def _session(world: World, pid: str) -> tuple[str, str]:
    """An open viewing session at HKU-Shenzhen: (session id, a record it shows)."""
    record = world.deposit(pid, world.professional("ha"))
    doctor = staff(world, "hku_sz")
    opened = doctor.open(authorise(world, pid, "hku_sz"))
    assert opened.status_code == 201, opened.text
    session_id: str = opened.json()["session_id"]
    assert doctor.get(f"{SESSIONS}/{session_id}/records/{record}").status_code == 200
    return session_id, record


def _notifications(world: World, pid: str) -> int:
    with Session(world.vault.engine) as session:
        query = select(func.count()).select_from(Notification)
        return session.exec(query.where(Notification.person_id == pid)).one()


def test_institution_a_token_on_institution_b_session_is_the_plain_404(world: World) -> None:
    pid, _ = world.person()
    sid, record = _session(world, pid)
    notified = _notifications(world, pid)
    other_mainland = staff(world, "sysu_first_affiliated")  # designated, its own codes only
    hong_kong = world.professional("ha")  # implied sharing consent: still not B's session
    for path in ("", f"/{record}", f"/{record}/content"):
        nowhere = other_mainland.get(f"{SESSIONS}/{MISSING}/records{path}")
        assert_refused(nowhere, 404, "not_found")
        for headers in (other_mainland.headers(), hong_kong):
            answer = world.http.get(f"{SESSIONS}/{sid}/records{path}", headers=headers)
            assert answer.status_code == 404 and answer.content == nowhere.content
            assert "HbA1c" not in answer.text
    assert reasons(world, person_id=pid).count("wrong_institution") == 6
    assert _notifications(world, pid) == notified  # nothing was viewed


def test_institution_a_professional_claiming_institution_b_is_401(
    world: World, forge: Forge
) -> None:
    pid, _ = world.person()
    sid, record = _session(world, pid)
    intruder = staff(world, "sysu_first_affiliated")
    real = payload_of(intruder.headers()["Authorization"].removeprefix("Bearer "))
    assert real["inst"] == "sysu_first_affiliated"
    forged = bearer(forge.token(claims=forge.claims(**(real | {"inst": "hku_sz"}))))
    for path in ("", f"/{record}", f"/{record}/content"):
        assert_refused(world.http.get(f"{SESSIONS}/{sid}/records{path}", headers=forged))
    assert "wrong_institution" not in reasons(world, person_id=pid)


def _stored(world: World, pid: str) -> dict[str, int]:
    """How many rows of each kind the citizen API can write belong to ``pid``."""
    with Session(world.vault.engine) as session:
        return {
            model.__name__: session.exec(
                select(func.count()).select_from(model).where(model.person_id == pid)
            ).one()
            for model in (
                Record,
                SharingConsent,
                CrossBorderAuthorisation,
                RadiologyAuthorisation,
                CaregiverDelegation,
            )
        }


FOLDER_UPLOAD = {
    "category": "document",
    "clinical_date": "2025-01-01",
    "title": "planted",
    "content": "planted by a stranger",
    "content_type": "text/plain",
}


def _writes(world: World, headers: dict[str, str], ids: dict[str, str]) -> list[httpx.Response]:
    """Every write of ``/v1/me/...`` on the victim's ids."""
    post: list[tuple[str, dict[str, Any] | None]] = [
        ("/v1/me/folder", FOLDER_UPLOAD),
        (
            "/v1/me/sharing-consents",
            {"institution_id": "hksh", "kind": "indefinite", "scopes": ["ehr"]},
        ),
        ("/v1/me/cross-border-authorisations", {"institution_id": "hku_sz"}),
        ("/v1/me/radiology-authorisations", {"institution_id": "hku_sz"}),
        ("/v1/me/caregivers", {"caregiver_id": ids["stranger"]}),
        (f"/v1/me/sharing-consents/{ids['consent']}/renew", None),
    ]
    answers = [world.http.post(path, headers=headers, json=body) for path, body in post]
    answers.append(
        world.http.patch(
            f"/v1/me/sharing-consents/{ids['consent']}",
            headers=headers,
            json={"kind": "indefinite"},
        )
    )
    answers += [
        world.http.delete(path, headers=headers)
        for path in (
            f"/v1/me/sharing-consents/{ids['consent']}",
            f"/v1/me/cross-border-authorisations/{ids['cross_border']}",
            f"/v1/me/radiology-authorisations/{ids['radiology']}",
            f"/v1/me/caregivers/{ids['delegation']}",
        )
    ]
    return answers


def test_on_behalf_of_someone_who_never_delegated_writes_nothing(world: World) -> None:
    victim, me = world.person("Victim")
    carer, _ = world.person("Carer", dob="1980-01-01")
    stranger, as_stranger = world.person("Stranger", dob="1981-01-01")

    def created(response: httpx.Response) -> str:
        assert response.status_code == 201, response.text
        identifier: str = response.json()["id"]
        return identifier

    delegation = world.http.post("/v1/me/caregivers", headers=me, json={"caregiver_id": carer})
    ids = {
        "stranger": stranger,
        **world.grant_everything(me),
        "delegation": created(delegation),
    }
    before = _stored(world, victim)
    answers = _writes(world, as_stranger | {"On-Behalf-Of": victim}, ids)
    for answer in answers:
        assert_refused(answer, 404, "not_found")
    assert len({answer.content for answer in answers}) == 1
    assert _stored(world, victim) == before
    # The victim's own view is unchanged: the consent, both authorisations and the
    # delegation are all still in force.
    for path in (
        f"/v1/me/sharing-consents/{ids['consent']}",
        f"/v1/me/cross-border-authorisations/{ids['cross_border']}",
        f"/v1/me/radiology-authorisations/{ids['radiology']}",
        f"/v1/me/caregivers/{ids['delegation']}",
    ):
        mine = world.http.get(path, headers=me)
        assert mine.status_code == 200, mine.text
        assert mine.json()["revoked_at"] is None, path
