"""R9 in full: an institution's admin client manages its own institution and nothing
else — never any person's data, never another institution."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policies import Action, ActorKind, Policy, Reason, decide
from policies.model import Actor, Facts, Request
from tests.policies.builders import all_institutions, facts_at, for_each_policy, hk, requests

admins = st.builds(
    Actor, kind=st.just(ActorKind.INSTITUTION_ADMIN), institution_id=all_institutions
)
NOW = hk(2026, 3, 1, 10)


@for_each_policy
@given(data=st.data())
def test_an_admin_is_never_allowed_anything_about_a_person(
    policy: Policy, data: st.DataObject
) -> None:
    request = data.draw(requests(actor=admins))
    decision = decide(request, data.draw(facts_at(policy, NOW)), NOW)
    if request.action is not Action.MANAGE_INSTITUTION:
        assert not decision.allowed and decision.reason is Reason.ADMIN_NO_CONTENT
    else:
        own = request.actor.institution_id
        expected = own in policy.institutions and request.target_institution_id == own
        assert decision.allowed is expected


@for_each_policy
@given(own=all_institutions, target=all_institutions)
def test_an_admin_manages_exactly_its_own_institution(
    policy: Policy, own: str, target: str
) -> None:
    actor = Actor(ActorKind.INSTITUTION_ADMIN, institution_id=own)
    request = Request(actor, Action.MANAGE_INSTITUTION, target_institution_id=target)
    decision = decide(request, Facts(policy=policy), NOW)
    assert decision.allowed is (own == target and own in policy.institutions)
