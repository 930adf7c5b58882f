"""What-if (``policies.explain``): the steps it reports are the rules' own answers and can
never show more than acting in earnest would."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from policies import Action, Facts, Policy, Reason, RecordRef, Request, decide
from policies.explain import WHAT_IF_SESSION, Explained, explain
from policies.model import Actor, ViewingSession
from tests.policies.builders import (
    BROAD,
    DEFAULT,
    HK_STAFF,
    MAINLAND_STAFF,
    PERSON,
    categories,
    cross_border_facts,
    facts_at,
    for_each_policy,
    instants,
    mainland_staff,
    record,
    sources,
)
from tests.policies.plain_model import hong_kong_date, years_before

mainland = st.sampled_from([Actor.mainland_professional(*s) for s in MAINLAND_STAFF])
hong_kong = st.sampled_from([Actor.hk_professional(*s) for s in HK_STAFF])
HKU_SZ = mainland_staff(0)
records = st.builds(
    record,
    category=categories,
    source=sources,
    day=st.dates(hong_kong_date(datetime(2018, 1, 1)), hong_kong_date(datetime(2030, 1, 1))),
)


def _explained(
    policy: Policy, data: st.DataObject, actor: Actor
) -> tuple[Facts, datetime, tuple[Explained, ...]]:
    """Random facts near ``actor`` at a random instant, and the explanation; none when
    the facts name no person."""
    now = data.draw(instants(datetime(2024, 6, 1), datetime(2027, 6, 1)))
    facts = data.draw(facts_at(policy, now, actor))
    steps = explain(actor, facts, now)
    assert facts.person is not None or steps == ()
    return facts, now, steps


@for_each_policy
@BROAD
@given(data=st.data(), actor=mainland)
def test_a_mainland_listing_follows_an_allowed_opening_and_shows_the_lookback(
    policy: Policy, data: st.DataObject, actor: Actor
) -> None:
    facts, now, steps = _explained(policy, data, actor)
    if facts.person is None:
        return
    openings = [s for s in steps if s.action is Action.OPEN_VIEWING_SESSION]
    listings = [s for s in steps if s.action is Action.LIST_RECORDS]
    assert [s.authorisation_id for s in listings] == [
        s.authorisation_id for s in openings if s.decision.allowed
    ]
    for step in openings:  # the real opening's answer, with the same authorisation
        request = Request(
            actor,
            Action.OPEN_VIEWING_SESSION,
            facts.person.id,
            authorisation_id=step.authorisation_id,
        )
        assert step.decision == decide(request, facts, now)
    for step in listings:
        duties = step.decision.obligations
        assert step.decision.allowed and step.decision.grant_id == WHAT_IF_SESSION
        assert duties.visible_since == years_before(hong_kong_date(now), policy.lookback_years)
        assert duties.sources is not None and duties.categories is not None
        assert duties.sources <= {"ehr"} and duties.categories <= policy.sharable_categories


@for_each_policy
@BROAD
@given(data=st.data(), actor=mainland, r=records)
def test_what_if_agrees_with_a_session_opened_in_earnest(
    policy: Policy, data: st.DataObject, actor: Actor, r: RecordRef
) -> None:
    """A record the what-if listing admits is exactly one the professional could read
    through a session really opened now under the same authorisation."""
    now = data.draw(instants(datetime(2024, 6, 1), datetime(2027, 6, 1)))
    facts, _ = cross_border_facts(policy, actor, now)
    facts = dataclasses.replace(facts, viewing_sessions=())  # nothing opened yet
    steps = explain(actor, facts, now)
    (authorisation,) = facts.cross_border_authorisations
    real = ViewingSession(
        "real",
        authorisation.id,
        actor.institution_id or "",
        actor.professional_id or "",
        now,
        policy.viewing_session_expires_at(now, authorisation.expires_at),
    )
    opened = dataclasses.replace(facts, viewing_sessions=(real,))
    read = Request(actor, Action.READ_RECORD, PERSON, record=r, session_id="real")
    earnest = decide(read, opened, now).allowed
    if len(steps) == 1:  # opening refused (not designated yet, processing, age): nothing
        assert not steps[0].decision.allowed and not earnest
    else:
        assert steps[1].decision.obligations.admits(r) == earnest


@for_each_policy
@BROAD
@given(data=st.data(), actor=hong_kong)
def test_a_hong_kong_professional_is_told_the_rules_answers(
    policy: Policy, data: st.DataObject, actor: Actor
) -> None:
    facts, now, steps = _explained(policy, data, actor)
    if facts.person is None:
        return
    assert [s.action for s in steps] == [Action.LIST_RECORDS, Action.REQUEST_RESTRICTED_ACCESS]
    for step in steps:
        assert step.decision == decide(Request(actor, step.action, facts.person.id), facts, now)


def test_without_an_authorisation_the_one_step_says_so() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    facts, _ = cross_border_facts(DEFAULT, HKU_SZ, now)
    bare = dataclasses.replace(facts, cross_border_authorisations=(), viewing_sessions=())
    (step,) = explain(HKU_SZ, bare, now)
    assert step.action is Action.OPEN_VIEWING_SESSION and not step.decision.allowed
    assert step.decision.reason is Reason.NO_AUTHORISATION
    assert explain(HKU_SZ, Facts(DEFAULT), now) == ()  # no such person: nothing to say
