"""R5: radiology depositors deposit, and never read."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from policies import (
    Action,
    Category,
    Facts,
    Policy,
    RadiologyAuthorisation,
    Reason,
    RecordRef,
    Request,
    Source,
    decide,
)
from tests.policies.builders import (
    BROAD,
    MAINLAND_STAFF,
    MICRO,
    PERSON,
    PROPERTY,
    VIEWS,
    categories,
    cross_border_facts,
    focused_requests,
    for_each_policy,
    hk,
    instants,
    known_records,
    mainland_staff,
    person,
    record,
    situations,
    sources,
    utc,
)
from tests.policies.plain_model import outcome_of

LAUNCH = hk(2026, 1, 27)
DEPOSITORS = ("hku_sz", "shenzhen_new_frontier_united_family", "zhongshan_chen_xinghai")


def authorisation(institution: str, issued: datetime, ident: str = "r1") -> RadiologyAuthorisation:
    return RadiologyAuthorisation(ident, PERSON, institution, issued, issued + timedelta(days=14))


def deposit(index: int, category: str, source: str = Source.PERSONAL_FOLDER) -> Request:
    actor = mainland_staff(index)
    r = record(category, source, date(2026, 2, 1), actor.institution_id)
    return Request(actor, Action.DEPOSIT_RADIOLOGY, PERSON, record=r)


@for_each_policy
@PROPERTY
@given(
    request=st.builds(deposit, st.sampled_from(range(len(MAINLAND_STAFF))), categories, sources),
    now=instants(datetime(2025, 12, 1), datetime(2027, 1, 1)),
    authorised=st.booleans(),
)
def test_who_may_deposit_what(
    policy: Policy, request: Request, now: datetime, authorised: bool
) -> None:
    institution, deposited = request.actor.institution_id, request.record
    assert institution is not None and deposited is not None
    others = [d for d in DEPOSITORS if d != institution]
    auths = [authorisation(others[0], now - timedelta(days=1), "r0")]  # someone else's
    if authorised:
        auths.append(authorisation(institution, now - timedelta(days=1)))
    facts = Facts(policy, person(), radiology_authorisations=tuple(auths))
    decision = decide(request, facts, now)
    assert decision.allowed == (
        institution in DEPOSITORS
        and now >= LAUNCH
        and deposited.category in (Category.RADIOLOGY_REPORT, Category.RADIOLOGY_IMAGES)
        and deposited.source == Source.PERSONAL_FOLDER
        and authorised
    )


@for_each_policy
def test_depositing_starts_at_hong_kong_midnight_of_27_january_2026(policy: Policy) -> None:
    facts = Facts(
        policy, person(), radiology_authorisations=(authorisation("hku_sz", utc(2026, 1, 20)),)
    )
    request = deposit(0, Category.RADIOLOGY_IMAGES)
    assert decide(request, facts, LAUNCH).reason is Reason.RADIOLOGY_AUTHORISATION
    assert decide(request, facts, LAUNCH - MICRO).reason is Reason.NOT_RADIOLOGY_DEPOSITOR


@for_each_policy
def test_an_authorisation_for_another_depositor_does_not_help(policy: Policy) -> None:
    now = utc(2026, 3, 1)
    other = authorisation("zhongshan_chen_xinghai", now - timedelta(days=1))
    facts = Facts(policy, person(), radiology_authorisations=(other,))
    request = deposit(0, Category.RADIOLOGY_REPORT)
    assert decide(request, facts, now).reason is Reason.NO_RADIOLOGY_AUTHORISATION


@for_each_policy
@PROPERTY
@given(
    action=st.sampled_from(VIEWS),
    probe=known_records,
    now=instants(datetime(2026, 1, 27), datetime(2029, 1, 1)),
)
def test_a_depositor_cannot_read_what_it_deposited(
    policy: Policy, action: Action, probe: RecordRef, now: datetime
) -> None:
    """Even holding a radiology authorisation *and* a valid viewing session, nothing in
    the Personal Folder (where its deposits are) is readable or listed."""
    actor = mainland_staff(1)  # hku_sz radiographer
    facts, listing = cross_border_facts(policy, actor, now)
    facts = dataclasses.replace(
        facts, radiology_authorisations=(authorisation("hku_sz", now - timedelta(days=1)),)
    )
    deposited = dataclasses.replace(
        probe, source=Source.PERSONAL_FOLDER, depositor_institution_id="hku_sz"
    )
    request = dataclasses.replace(
        listing, action=action, record=None if action is Action.LIST_RECORDS else deposited
    )
    decision = decide(request, facts, now)
    assert not decision.obligations.admits(deposited)
    if action is not Action.LIST_RECORDS:
        assert decision.reason is Reason.DEPOSITOR_CANNOT_READ
    receipt = Request(actor, Action.READ_DEPOSIT_RECEIPT, PERSON, record=deposited)
    assert decide(receipt, facts, now).reason is Reason.OWN_DEPOSIT_RECEIPT
    someone_elses = dataclasses.replace(
        deposited, depositor_institution_id="zhongshan_chen_xinghai"
    )
    receipt = Request(actor, Action.READ_DEPOSIT_RECEIPT, PERSON, record=someone_elses)
    assert decide(receipt, facts, now).reason is Reason.WRONG_INSTITUTION


@for_each_policy
@BROAD
@given(data=st.data())
def test_radiology_authorisations_never_grant_reading(policy: Policy, data: st.DataObject) -> None:
    mainland = st.sampled_from([mainland_staff(n) for n in range(len(MAINLAND_STAFF))])
    request, facts, now = data.draw(situations(policy, focused_requests(mainland)))
    if request.action not in VIEWS:
        return
    without = dataclasses.replace(facts, radiology_authorisations=())
    assert outcome_of(decide(request, facts, now)) == outcome_of(decide(request, without, now))
