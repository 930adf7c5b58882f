"""The break-glass variant: justified, time-boxed, notified, reviewed. Off elsewhere."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import (
    Action,
    Actor,
    BreakGlassAccess,
    Category,
    Facts,
    Policy,
    Reason,
    RecordRef,
    Request,
    Source,
    decide,
)
from tests.policies.builders import (
    BREAK_GLASS,
    MICRO,
    PERSON,
    POLICIES,
    PROPERTY,
    VIEWS,
    consent,
    for_each_policy,
    instants,
    known_records,
    person,
    record,
    utc,
)

NOW = utc(2026, 3, 2, 4)
JUSTIFICATION = "Unconscious after a fall, allergies unknown, no relative reachable."
NURSE = Actor.hk_professional("matilda", "m-nurse", "nurse")
CLERK = Actor.hk_professional("matilda", "m-clerk", "clerk")


def invoke(actor: Actor, text: str | None = JUSTIFICATION) -> Request:
    return Request(actor, Action.INVOKE_BREAK_GLASS, PERSON, break_glass_justification=text)


def access(started: datetime, minutes: int = 60, professional: str = "m-nurse") -> BreakGlassAccess:
    return BreakGlassAccess(
        "b1", PERSON, "matilda", professional, len(JUSTIFICATION.strip()), started,
        started + timedelta(minutes=minutes),
    )  # fmt: skip


@for_each_policy
def test_invoking(policy: Policy) -> None:
    facts = Facts(policy, person())
    decision = decide(invoke(NURSE), facts, NOW)
    if not policy.break_glass.enabled:
        assert decision.reason is Reason.BREAK_GLASS_DISABLED
        return
    assert decision.allowed and decision.reason is Reason.BREAK_GLASS
    assert decision.obligations.notify_person and decision.obligations.review_required
    short = "x" * (policy.break_glass.min_justification_length - 1)
    assert decide(invoke(NURSE, short), facts, NOW).reason is Reason.JUSTIFICATION_TOO_SHORT
    assert decide(invoke(NURSE, " " * 80), facts, NOW).reason is Reason.JUSTIFICATION_TOO_SHORT
    assert decide(invoke(NURSE, None), facts, NOW).reason is Reason.JUSTIFICATION_TOO_SHORT
    assert decide(invoke(CLERK), facts, NOW).reason is Reason.BREAK_GLASS_NOT_PERMITTED
    not_joined = Facts(policy, person(joined=False))
    assert decide(invoke(NURSE), not_joined, NOW).reason is Reason.NOT_JOINED
    mainland = Actor.mainland_professional("hku_sz", "x", "doctor")
    assert not decide(invoke(mainland), facts, NOW).allowed


@for_each_policy
@PROPERTY
@given(
    action=st.sampled_from(VIEWS),
    probe=known_records,
    started=instants(),
    offset=st.timedeltas(timedelta(minutes=-5), timedelta(minutes=70)),
)
def test_time_boxed_emergency_access(
    policy: Policy, action: Action, probe: RecordRef, started: datetime, offset: timedelta
) -> None:
    """No consent at all: during the box every eHR record is open to that nurse (role
    restrictions lifted), each view notifies the person and is flagged for review; outside
    the box, or in a policy without break-glass, nothing."""
    now = started + offset
    facts = Facts(policy, person(), break_glass_accesses=(access(started, minutes=600),))
    request = Request(
        NURSE, action, PERSON, record=None if action is Action.LIST_RECORDS else probe
    )
    decision = decide(request, facts, now)
    in_box = started <= now < started + timedelta(minutes=60)  # the policy's box, not the fact's
    expected = policy.break_glass.enabled and in_box
    if action is not Action.LIST_RECORDS:
        expected = expected and probe.source == Source.EHR
    assert decision.allowed == expected
    if decision.allowed:
        assert decision.reason is Reason.BREAK_GLASS and decision.grant_id == "b1"
        assert decision.obligations.notify_person and decision.obligations.review_required
        assert decision.obligations.categories is None
        assert decision.obligations.sources == frozenset({Source.EHR})


def test_break_glass_widens_but_keeps_the_consented_folder() -> None:
    folder = consent("matilda", NOW - timedelta(days=1), scopes=frozenset(Source))
    facts = Facts(BREAK_GLASS, person(), (folder,), break_glass_accesses=(access(NOW),))
    listing = decide(Request(NURSE, Action.LIST_RECORDS, PERSON), facts, NOW)
    assert listing.obligations.sources == frozenset(Source)
    assert listing.consent_id == folder.id
    restricted = record(Category.RADIOLOGY_IMAGES, Source.PERSONAL_FOLDER)
    read = decide(Request(NURSE, Action.READ_RECORD, PERSON, record=restricted), facts, NOW)
    assert read.allowed and read.reason is Reason.BREAK_GLASS


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_someone_elses_emergency_gives_nothing(policy: Policy) -> None:
    facts = Facts(policy, person(), break_glass_accesses=(access(NOW, professional="m-doctor-2"),))
    request = Request(NURSE, Action.LIST_RECORDS, PERSON)
    assert decide(request, facts, NOW).reason is Reason.NO_SHARING_CONSENT
    assert decide(request, facts, NOW - MICRO).allowed is False
