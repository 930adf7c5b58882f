"""Break-glass over HTTP (issue 15, item 9): refused under the default policy, the same for
every person id; under ``policies/break-glass.toml`` a short, audited, notified access
that the operator reviews — and never sees the reason of."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from policies.policy_file import POLICY_DIR
from tests.api.conftest import World, served_world
from tests.api.cross_border_support import advance, notifications, reasons
from vault.core.settings import Settings

REASON = "Collapsed in A&E, unresponsive; anticoagulants? allergies? history needed now."
RECORDS = "/v1/patients/{pid}/records"
MISSING = "0" * 32


@pytest.fixture
def emergency_world(api_settings: Settings) -> Iterator[World]:
    settings = api_settings.model_copy(update={"policy": POLICY_DIR / "break-glass.toml"})
    with served_world(settings) as (world, _):
        yield world


def _invoke(
    world: World, headers: dict[str, str], pid: str, reason: str = REASON
) -> httpx.Response:
    return world.http.post(
        f"/v1/patients/{pid}/break-glass", headers=headers, json={"justification": reason}
    )


def test_the_default_policy_refuses_it_alike_for_every_person(world: World) -> None:
    pid, _ = world.person()
    doctor = world.professional("matilda")
    answers = [_invoke(world, doctor, p) for p in (pid, MISSING)]
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "break_glass_disabled"
    assert answers[0].content == answers[1].content
    assert world.http.get(RECORDS.format(pid=pid), headers=doctor).status_code == 404


def test_an_emergency_opens_the_ehr_for_an_hour_notified_and_reviewed(
    emergency_world: World,
) -> None:
    world = emergency_world
    pid, _ = world.person()
    record = world.deposit(pid, world.professional("ha"), content="warfarin 5 mg daily")
    doctor = world.professional("matilda")
    listing = RECORDS.format(pid=pid)
    assert world.http.get(listing, headers=doctor).status_code == 404  # no consent

    started = _invoke(world, doctor, pid)
    assert started.status_code == 201, started.text
    access = started.json()
    listed = world.http.get(listing, headers=doctor)
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["items"]] == [record]
    content = world.http.get(f"{listing}/{record}/content", headers=doctor)
    assert content.text == "warfarin 5 mg daily"

    told = notifications(world, pid)
    assert told[0]["event"] == "invoke_break_glass" and told[0]["detail"] == REASON.strip()
    assert {"break_glass"} <= set(reasons(world, person_id=pid))

    review = world.http.get("/v1/admin/break-glass", headers=world.operator)
    assert review.status_code == 200, review.text
    [item] = review.json()["items"]
    assert (item["id"], item["person_id"], item["reviewed_at"]) == (access["id"], pid, None)
    assert item["justification_length"] == len(REASON) and REASON not in review.text
    done = world.http.post(f"/v1/admin/break-glass/{access['id']}/review", headers=world.operator)
    assert done.status_code == 200 and done.json()["reviewed_at"] is not None
    unreviewed = world.http.get(
        "/v1/admin/break-glass", headers=world.operator, params={"unreviewed": "true"}
    )
    assert unreviewed.json()["items"] == []

    advance(world, timedelta(minutes=61))
    doctor = world.professional("matilda")  # a fresh token: the old one expired
    assert world.http.get(listing, headers=doctor).status_code == 404  # the hour is over


def test_refusals_say_why_to_the_professional_only_what_is_theirs(
    emergency_world: World,
) -> None:
    world = emergency_world
    pid, _ = world.person()
    clerk = world.professional("matilda", profession="clerk")
    doctor = world.professional("matilda")
    cases = [
        (_invoke(world, clerk, pid), 403, "break_glass_not_permitted"),
        (_invoke(world, doctor, pid, "Emergency!!!"), 403, "justification_too_short"),
        (_invoke(world, doctor, MISSING), 404, "not_found"),
        (_invoke(world, world.professional("hku_sz"), pid), 404, "not_found"),  # Mainland
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, answer.text
        assert answer.json()["code"] == code
    assert world.http.get("/v1/admin/break-glass", headers=world.operator).json()["items"] == []
    not_operator = world.http.get("/v1/admin/break-glass", headers=doctor)
    assert not_operator.status_code == 403
