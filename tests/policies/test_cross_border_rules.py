"""R4: cross-border viewers — designation, sessions, the lookback, the pilot timeline."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import (
    Action,
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
    DEFAULT,
    MAINLAND_STAFF,
    MICRO,
    PERSON,
    PROPERTY,
    categories,
    cross_border,
    cross_border_facts,
    for_each_policy,
    hk,
    instants,
    mainland_staff,
    person,
    record,
    session_for,
    sources,
    utc,
)
from tests.policies.plain_model import hong_kong_date, years_before

HKU_SZ = mainland_staff(0)


def read(request: Request, r: RecordRef) -> Request:
    return dataclasses.replace(request, action=Action.READ_RECORD, record=r)


@for_each_policy
@PROPERTY
@given(
    now=instants(datetime(2026, 1, 1), datetime(2031, 1, 1)),
    day=st.dates(date(2019, 1, 1), date(2031, 1, 1)),
    category=categories,
    source=sources,
)
def test_lookback_and_sharable_scope(
    policy: Policy, now: datetime, day: date, category: Category, source: Source
) -> None:
    facts, listing = cross_border_facts(policy, HKU_SZ, now)
    today = hong_kong_date(now)
    since = years_before(today, policy.lookback_years)
    decision = decide(read(listing, record(category, source, day)), facts, now)
    inside = since <= day <= today
    assert decision.allowed == (
        inside and source == Source.EHR and category in policy.sharable_categories
    )
    box = decide(listing, facts, now).obligations
    assert (box.visible_since, box.visible_until) == (since, today)
    assert box.sources == frozenset({Source.EHR}) and box.categories == policy.sharable_categories


# (instant, clinical date, visible?) for a three-year lookback; five years shift by two.
BOUNDARIES = [
    # The Hong Kong date turns at 16:00 UTC.
    (utc(2027, 2, 28, 15, 59, 59, 999999), date(2024, 2, 28), True),
    (utc(2027, 2, 28, 15, 59, 59, 999999), date(2024, 2, 27), False),
    (utc(2027, 2, 28, 15, 59, 59, 999999), date(2024, 2, 29), True),
    (utc(2027, 2, 28, 16, 0, 0), date(2024, 2, 29), False),  # HK 1 Mar 2027
    (utc(2027, 2, 28, 16, 0, 0), date(2024, 3, 1), True),
    (utc(2027, 2, 28, 16, 0, 0), date(2027, 3, 1), True),  # today in HK, still 28 Feb in UTC
    (utc(2027, 2, 28, 15, 59, 59), date(2027, 3, 1), False),  # tomorrow in HK
    # 29 Feb today maps to 28 Feb three years earlier.
    (utc(2028, 2, 28, 15, 59, 59), date(2025, 2, 28), True),
    (utc(2028, 2, 28, 16, 0, 0), date(2025, 2, 28), True),  # HK 29 Feb 2028
    (utc(2028, 2, 28, 16, 0, 0), date(2025, 2, 27), False),
    (utc(2028, 2, 29, 16, 0, 0), date(2025, 2, 28), False),  # HK 1 Mar 2028
    (utc(2028, 2, 29, 16, 0, 0), date(2025, 3, 1), True),
]


@for_each_policy
@pytest.mark.parametrize(("now", "day", "visible"), BOUNDARIES)
def test_lookback_boundary_is_exact(
    policy: Policy, now: datetime, day: date, visible: bool
) -> None:
    extra = policy.lookback_years - 3
    if extra and day < hong_kong_date(now):
        day = years_before(day, extra)
    facts, listing = cross_border_facts(policy, HKU_SZ, now)
    assert decide(read(listing, record(day=day)), facts, now).allowed is visible


DESIGNATIONS = sorted({i.designated_on for i in DEFAULT.institutions.values() if i.designated_on})


@for_each_policy
@pytest.mark.parametrize("staff", MAINLAND_STAFF, ids=lambda s: s[0])
def test_not_before_designation(policy: Policy, staff: tuple[str, str, str]) -> None:
    actor = mainland_staff(MAINLAND_STAFF.index(staff))
    designated = policy.institutions[staff[0]].designated_on
    assert designated is not None
    first = hk(designated.year, designated.month, designated.day)  # HK midnight
    for action in (Action.LIST_RECORDS, Action.OPEN_VIEWING_SESSION):
        facts, request = cross_border_facts(policy, actor, first, dob=date(1940, 1, 1))
        request = dataclasses.replace(request, action=action, authorisation_id="auth-1")
        # The authorisation is four days old, so the pilot's 72 h have passed.
        assert decide(request, facts, first).allowed
        before = decide(request, facts, first - MICRO)
        assert before.reason is Reason.NOT_DESIGNATED


@for_each_policy
@PROPERTY
@given(now=instants(datetime(2024, 6, 1), datetime(2026, 6, 1)))
def test_designated_institutions_on_a_date(policy: Policy, now: datetime) -> None:
    today = hong_kong_date(now)
    for institution, professional, profession in MAINLAND_STAFF:
        actor = mainland_staff(MAINLAND_STAFF.index((institution, professional, profession)))
        facts, request = cross_border_facts(policy, actor, now, dob=date(1940, 1, 1))
        designated = policy.institutions[institution].designated_on
        assert designated is not None
        assert decide(request, facts, now).allowed == (designated <= today)


PILOT_END = utc(2025, 12, 23, 16)  # 2025-12-24 00:00 in Hong Kong


@for_each_policy
@PROPERTY
@given(issued=instants(datetime(2024, 9, 1), datetime(2026, 6, 1)))
def test_processing_delay_during_the_pilot_only(policy: Policy, issued: datetime) -> None:
    a = cross_border("hku_sz", issued, expires_at=issued + timedelta(days=30))
    ready = issued + (timedelta(hours=72) if issued < PILOT_END else timedelta(0))
    s = session_for(HKU_SZ, a, ready)
    facts = Facts(
        policy,
        person(dob=date(1940, 1, 1)),
        cross_border_authorisations=(a,),
        viewing_sessions=(s,),
    )
    request = Request(HKU_SZ, Action.OPEN_VIEWING_SESSION, PERSON, authorisation_id=a.id)
    assert decide(request, facts, ready).allowed
    if ready > issued:
        assert decide(request, facts, ready - MICRO).reason is Reason.AUTHORISATION_PENDING
    listing = Request(HKU_SZ, Action.LIST_RECORDS, PERSON, session_id=s.id)
    assert decide(listing, facts, ready).allowed


@for_each_policy
@PROPERTY
@given(
    issued=instants(datetime(2024, 9, 1), datetime(2026, 6, 1)),
    born=st.dates(date(1955, 1, 1), date(1965, 12, 31)),
    later=st.timedeltas(timedelta(days=4), timedelta(days=399)),
)
def test_only_65_and_over_in_the_pilot(
    policy: Policy, issued: datetime, born: date, later: timedelta
) -> None:
    """Eligibility is judged on the application's Hong Kong date, not on the day of use."""
    a = cross_border("hku_sz", issued, expires_at=issued + timedelta(days=400))
    s = session_for(HKU_SZ, a, issued + later)
    facts = Facts(policy, person(dob=born), cross_border_authorisations=(a,), viewing_sessions=(s,))
    applied_on = hong_kong_date(issued)
    old_enough = years_before(applied_on, 65) >= born
    listing = Request(HKU_SZ, Action.LIST_RECORDS, PERSON, session_id=s.id)
    assert decide(listing, facts, issued + later).allowed == (issued >= PILOT_END or old_enough)


def test_turning_65_after_applying_does_not_help() -> None:
    issued = utc(2025, 2, 27)  # HK 2025-02-27: aged 64 (born 1960-03-01)
    a = cross_border("hku_sz", issued, expires_at=issued + timedelta(days=30))
    use = issued + timedelta(days=10)  # aged 65 by now
    s = session_for(HKU_SZ, a, use)
    facts = Facts(
        DEFAULT,
        person(dob=date(1960, 3, 1)),
        cross_border_authorisations=(a,),
        viewing_sessions=(s,),
    )
    listing = Request(HKU_SZ, Action.LIST_RECORDS, PERSON, session_id=s.id)
    assert decide(listing, facts, use).reason is Reason.NOT_ELIGIBLE


def test_born_29_february_is_65_on_28_february_in_the_pilot() -> None:
    issued = utc(2025, 2, 27, 16)  # 2025-02-28 in Hong Kong
    a = cross_border("hku_sz", issued)
    s = session_for(HKU_SZ, a, issued + timedelta(days=4))
    for applied, allowed in ((issued, True), (issued - MICRO, False)):
        a2 = dataclasses.replace(a, issued_at=applied)
        facts = Facts(
            DEFAULT,
            person(dob=date(1960, 2, 29)),
            cross_border_authorisations=(a2,),
            viewing_sessions=(s,),
        )
        request = Request(HKU_SZ, Action.LIST_RECORDS, PERSON, session_id=s.id)
        assert decide(request, facts, issued + timedelta(days=4)).allowed is allowed


@for_each_policy
def test_session_rules(policy: Policy) -> None:
    now = utc(2026, 3, 2, 3)
    facts, listing = cross_border_facts(policy, HKU_SZ, now)
    assert decide(listing, facts, now).reason is Reason.CROSS_BORDER_SESSION
    assert decide(dataclasses.replace(listing, session_id=None), facts, now).reason is (
        Reason.NO_SESSION
    )
    # A session never outlives the policy's session length, whatever the store wrote.
    long = dataclasses.replace(facts.viewing_sessions[0], expires_at=now + timedelta(days=9))
    facts = dataclasses.replace(facts, viewing_sessions=(long,))
    limit = long.opened_at + policy.durations.viewing_session
    assert decide(listing, facts, limit - MICRO).allowed
    assert decide(listing, facts, limit).reason is Reason.SESSION_EXPIRED
    # Another person's authorisation does not open this person's records.
    theirs = dataclasses.replace(facts.cross_border_authorisations[0], person_id="person-2")
    facts = dataclasses.replace(facts, cross_border_authorisations=(theirs,))
    assert decide(listing, facts, now).reason is Reason.NO_AUTHORISATION


@for_each_policy
def test_cross_border_viewer_cannot_deposit_ehr_or_use_hk_steps(policy: Policy) -> None:
    now = utc(2026, 3, 2, 3)
    facts, listing = cross_border_facts(policy, HKU_SZ, now)
    for action in (
        Action.DEPOSIT_RECORD,
        Action.REQUEST_RESTRICTED_ACCESS,
        Action.INVOKE_BREAK_GLASS,
        Action.MANAGE_CONSENTS,
    ):
        request = dataclasses.replace(listing, action=action, record=record(depositor="hku_sz"))
        assert decide(request, facts, now).reason is Reason.DEFAULT_DENY
