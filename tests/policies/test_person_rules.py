"""R1 owner, R2 caregiver, R6 Personal Folder."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from policies import (
    Action,
    Actor,
    CaregiverDelegation,
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
    BROAD,
    CAREGIVER,
    NEVER,
    PERSON,
    PROPERTY,
    SECOND_CAREGIVER,
    VIEWS,
    Ends,
    actions,
    facts_at,
    for_each_policy,
    instants,
    known_records,
    person,
    record,
    utc,
)
from tests.policies.plain_model import outcome_of

OWN_ACCOUNT = (
    Action.READ_PROFILE,
    Action.MANAGE_CONSENTS,
    Action.MANAGE_CAREGIVERS,
    Action.READ_ACCESS_LOG,
    Action.READ_NOTIFICATIONS,
)


@for_each_policy
@BROAD
@given(data=st.data(), probe=known_records, action=st.sampled_from(VIEWS + OWN_ACCOUNT))
def test_the_owner_is_always_allowed_their_own_records(
    policy: Policy, data: st.DataObject, probe: RecordRef, action: Action
) -> None:
    """Whatever else is true (joined or not, consents revoked, ...), R1 holds."""
    now = data.draw(instants())
    facts = data.draw(facts_at(policy, now))
    facts = dataclasses.replace(
        facts, person=person(joined=data.draw(st.booleans()), dob=data.draw(st.dates()))
    )
    r = probe if action in (Action.READ_RECORD, Action.READ_CONTENT) else None
    decision = decide(Request(Actor.citizen(PERSON), action, PERSON, record=r), facts, now)
    assert decision.allowed and decision.reason is Reason.OWNER
    assert decision.obligations.admits(probe)
    assert not decision.obligations.notify_person


@for_each_policy
@PROPERTY
@given(probe=known_records, now=instants())
def test_a_person_files_into_their_own_folder_only(
    policy: Policy, probe: RecordRef, now: datetime
) -> None:
    request = Request(Actor.citizen(PERSON), Action.ADD_TO_FOLDER, PERSON, record=probe)
    decision = decide(request, Facts(policy, person()), now)
    assert decision.allowed == (probe.source == Source.PERSONAL_FOLDER)
    other = Request(Actor.citizen("person-2"), Action.ADD_TO_FOLDER, PERSON, record=probe)
    assert not decide(other, Facts(policy, person()), now).allowed


@for_each_policy
def test_the_person_cannot_deposit_an_ehr_or_radiology(policy: Policy) -> None:
    now = utc(2026, 3, 1)
    for action in (Action.DEPOSIT_RECORD, Action.DEPOSIT_RADIOLOGY, Action.OPEN_VIEWING_SESSION):
        request = Request(Actor.citizen(PERSON), action, PERSON, record=record())
        assert not decide(request, Facts(policy, person()), now).allowed


def delegation(granted: datetime, ends: Ends = NEVER) -> CaregiverDelegation:
    """PERSON's delegation d1 to CAREGIVER."""
    return CaregiverDelegation("d1", PERSON, CAREGIVER, granted, *ends)


class Ending(NamedTuple):
    """How a delegation granted 30 days before ``now`` ends: ``after`` that long, by
    expiry or by revocation."""

    revoked: bool
    after: timedelta

    def ends(self, granted: datetime) -> Ends:
        end = granted + self.after
        return Ends(revoked_at=end) if self.revoked else Ends(expires_at=end)


def as_caregiver(request: Request, header: bool) -> Request:
    """The same request made by the caregiver: a citizen token with On-Behalf-Of, or an
    explicit caregiver actor."""
    actor = Actor.citizen(CAREGIVER) if header else Actor.caregiver(CAREGIVER)
    return dataclasses.replace(request, actor=actor, on_behalf_of=PERSON)


@for_each_policy
@PROPERTY
@given(
    own=st.builds(
        Request, st.just(Actor.citizen(PERSON)), actions, st.just(PERSON), st.none() | known_records
    ),
    now=instants(),
    header=st.booleans(),
    ending=st.builds(
        Ending, st.booleans(), st.timedeltas(timedelta(microseconds=1), timedelta(days=800))
    ),
)
def test_caregiver_has_the_persons_rights_until_the_delegation_ends(
    policy: Policy, own: Request, now: datetime, header: bool, ending: Ending
) -> None:
    """``own``: a request by the person; the caregiver makes the same one."""
    action = own.action
    granted = now - timedelta(days=30)
    facts = Facts(policy, person(), delegations=(delegation(granted, ending.ends(granted)),))
    theirs = as_caregiver(own, header)
    by_owner = decide(own, facts, now)
    by_caregiver = decide(theirs, facts, now)
    if now >= granted + ending.after:
        assert not by_caregiver.allowed
    elif action is Action.MANAGE_CAREGIVERS:
        assert by_caregiver.reason is Reason.DELEGATION_CANNOT_DELEGATE
    else:
        assert by_caregiver.allowed == by_owner.allowed
        if by_caregiver.allowed:
            assert by_caregiver.reason is Reason.CAREGIVER
            assert by_caregiver.consent_id == "d1"
            assert by_caregiver.obligations.on_behalf_of == PERSON  # both identities logged
            assert not by_caregiver.obligations.notify_person
            assert theirs.audit_identities == (CAREGIVER, PERSON)


@for_each_policy
@PROPERTY
@given(action=actions, probe=st.none() | known_records, now=instants())
def test_no_further_delegation(
    policy: Policy, action: Action, probe: RecordRef | None, now: datetime
) -> None:
    """PERSON -> CAREGIVER and CAREGIVER -> SECOND_CAREGIVER: the second caregiver has
    nothing of PERSON's, and CAREGIVER cannot manage PERSON's caregivers."""
    chain = (
        delegation(now - timedelta(days=10)),
        CaregiverDelegation("d2", CAREGIVER, SECOND_CAREGIVER, now - timedelta(days=5)),
    )
    facts = Facts(policy, person(), delegations=chain)
    request = Request(
        Actor.caregiver(SECOND_CAREGIVER), action, PERSON, record=probe, on_behalf_of=PERSON
    )
    assert not decide(request, facts, now).allowed
    manage = Request(Actor.caregiver(CAREGIVER), Action.MANAGE_CAREGIVERS, PERSON)
    assert decide(manage, facts, now).reason is Reason.DELEGATION_CANNOT_DELEGATE


@for_each_policy
def test_a_delegation_is_for_one_person(policy: Policy) -> None:
    now = utc(2026, 3, 1)
    facts = Facts(policy, person(pid="person-2"), delegations=(delegation(now - timedelta(1)),))
    request = Request(Actor.caregiver(CAREGIVER), Action.LIST_RECORDS, "person-2")
    assert decide(request, facts, now).reason is Reason.NO_DELEGATION
    mismatch = Request(
        Actor.caregiver(CAREGIVER), Action.LIST_RECORDS, "person-2", on_behalf_of=PERSON
    )
    assert not decide(mismatch, facts, now).allowed


@for_each_policy
def test_consent_targets_are_checked(policy: Policy) -> None:
    """Giving a consent names a real institution of the right kind."""
    now = utc(2026, 3, 1)
    facts = Facts(policy, person(dob=datetime(1990, 1, 1).date()))

    def target(action: Action, institution: str, at: datetime = now) -> Reason:
        request = Request(Actor.citizen(PERSON), action, PERSON, target_institution_id=institution)
        return decide(request, facts, at).reason

    assert target(Action.GRANT_SHARING_CONSENT, "hksh") is Reason.OWNER
    assert target(Action.GRANT_SHARING_CONSENT, "hku_sz") is Reason.WRONG_REGION
    assert target(Action.GRANT_SHARING_CONSENT, "nowhere") is Reason.UNKNOWN_INSTITUTION
    assert target(Action.APPLY_CROSS_BORDER, "hku_sz") is Reason.OWNER
    assert target(Action.APPLY_CROSS_BORDER, "ha") is Reason.WRONG_REGION
    assert target(Action.APPLY_CROSS_BORDER, "jiangmen_central", utc(2025, 7, 31, 15)) is (
        Reason.NOT_DESIGNATED
    )
    # Aged 35 in the pilot: not eligible; from 24 Dec 2025: eligible.
    assert target(Action.APPLY_CROSS_BORDER, "hku_sz", utc(2025, 12, 23, 15, 59)) is (
        Reason.NOT_ELIGIBLE
    )
    assert target(Action.APPLY_CROSS_BORDER, "hku_sz", utc(2025, 12, 23, 16)) is Reason.OWNER
    assert target(Action.GRANT_RADIOLOGY_AUTHORISATION, "hku_sz") is Reason.OWNER
    assert target(Action.GRANT_RADIOLOGY_AUTHORISATION, "dongguan_tungwah") is (
        Reason.NOT_RADIOLOGY_DEPOSITOR
    )
    not_joined = dataclasses.replace(facts, person=person(joined=False))
    request = Request(
        Actor.citizen(PERSON), Action.APPLY_CROSS_BORDER, PERSON, target_institution_id="hku_sz"
    )
    assert decide(request, not_joined, now).reason is Reason.NOT_JOINED


def test_caregiver_and_owner_outcomes_differ_only_in_delegation_fields() -> None:
    from tests.policies.builders import DEFAULT

    now = utc(2026, 3, 1)
    facts = Facts(DEFAULT, person(), delegations=(delegation(now - timedelta(days=1)),))
    own = Request(
        Actor.citizen(PERSON), Action.READ_RECORD, PERSON, record=record(Category.DOCUMENT)
    )
    mine, theirs = (
        outcome_of(decide(own, facts, now)),
        outcome_of(decide(as_caregiver(own, True), facts, now)),
    )
    assert theirs == mine._replace(consent_id="d1", on_behalf_of=PERSON)
