"""R1, R2, R6: the person, their caregivers, and the Personal Folder.

The person may do everything with their own records and account (R1), file into their
Personal Folder (R6), and give consents to institutions of the right region. A caregiver
holding an active delegation has the person's rights, except appointing caregivers (R2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

from policies.dates import age_on
from policies.model import CaregiverDelegation, Decision, Facts, Obligations, Person, Request
from policies.policy import Institution, Policy
from policies.rules.common import OPEN, RECORD_ACTIONS, deny, record_problem, today
from policies.vocabulary import Action, Reason, Region, Source, Standing

_PERSON_ACTIONS = frozenset(
    {
        Action.READ_RECORD,
        Action.LIST_RECORDS,
        Action.READ_CONTENT,
        Action.ADD_TO_FOLDER,
        Action.READ_DEPOSIT_RECEIPT,
        Action.READ_PROFILE,
        Action.MANAGE_CONSENTS,
        Action.GRANT_SHARING_CONSENT,
        Action.APPLY_CROSS_BORDER,
        Action.GRANT_RADIOLOGY_AUTHORISATION,
        Action.MANAGE_CAREGIVERS,
        Action.READ_ACCESS_LOG,
        Action.READ_NOTIFICATIONS,
        Action.WITHDRAW,
        Action.EXPLAIN_ACCESS,
    }
)
_LAPSED_DELEGATION = {
    Standing.REVOKED: Reason.DELEGATION_REVOKED,
    Standing.EXPIRED: Reason.DELEGATION_EXPIRED,
}


def citizen(request: Request, facts: Facts, now: datetime) -> Decision:
    """A citizen acts as the person when they are the subject; naming someone else in
    ``on_behalf_of`` makes them a caregiver."""
    actor = request.actor
    if request.on_behalf_of is not None and request.on_behalf_of != actor.person_id:
        return caregiver(request, facts, now)
    if actor.person_id is None or actor.person_id != request.subject_id:
        return deny(Reason.NOT_OWNER)
    person = _subject(request, facts)
    if person is None:
        return deny(Reason.UNKNOWN_PERSON)
    return _as_person(request, facts, now, person, None)


def caregiver(request: Request, facts: Facts, now: datetime) -> Decision:
    """R2: a caregiver acts for the subject with an active delegation from them, and may
    do what the person may, except manage caregivers. Acting for oneself is being the
    person."""
    actor = request.actor
    acting_for = request.on_behalf_of or request.subject_id
    if actor.person_id is None or acting_for != request.subject_id:
        return deny(Reason.NO_DELEGATION)
    if acting_for == actor.person_id:
        return citizen(replace(request, on_behalf_of=None), facts, now)
    person = _subject(request, facts)
    if person is None:
        return deny(Reason.UNKNOWN_PERSON)
    delegation = _delegation(facts, person, actor.person_id, now)
    if isinstance(delegation, Reason):
        return deny(delegation)
    if request.action is Action.MANAGE_CAREGIVERS:
        return deny(Reason.DELEGATION_CANNOT_DELEGATE)
    return _as_person(request, facts, now, person, delegation)


def _subject(request: Request, facts: Facts) -> Person | None:
    person = facts.person
    return person if person is not None and person.id == request.subject_id else None


def _delegation(
    facts: Facts, person: Person, caregiver_id: str, now: datetime
) -> CaregiverDelegation | Reason:
    """The first delegation from ``person`` to ``caregiver_id`` active at ``now``; else
    why not (the lapse of the last one that ended, or no delegation)."""
    why_not = Reason.NO_DELEGATION
    for d in facts.delegations:
        if d.person_id != person.id or d.caregiver_id != caregiver_id:
            continue
        standing = d.status_at(now)
        if standing is Standing.ACTIVE:
            return d
        why_not = _LAPSED_DELEGATION.get(standing, why_not)
    return why_not


def _as_person(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    delegation: CaregiverDelegation | None,
) -> Decision:
    """R1/R6 for the person, or R2 for a caregiver holding ``delegation``."""
    action = request.action
    if action not in _PERSON_ACTIONS:
        return deny(Reason.DEFAULT_DENY)
    problem = _record_problem(request)
    if problem is None:
        check = _CONSENT_TARGET_CHECKS.get(action)
        problem = None if check is None else check(request, facts.policy, person, now)
    if problem is not None:
        return deny(problem)
    if delegation is None:
        return Decision(True, Reason.OWNER, obligations=OPEN)
    return Decision(
        True, Reason.CAREGIVER, delegation.id, obligations=Obligations(on_behalf_of=person.id)
    )


def _record_problem(request: Request) -> Reason | None:
    """A record-specific action needs a well-formed record; filing (R6) only into the
    Personal Folder."""
    if request.action not in RECORD_ACTIONS:
        return None
    record = request.record
    problem = record_problem(record)
    if problem is None and request.action is Action.ADD_TO_FOLDER and record:
        return None if record.source == Source.PERSONAL_FOLDER else Reason.NOT_PERSONAL_FOLDER
    return problem


# --- consents the person gives: the target institution must be of the right kind ---------


def _target(request: Request, policy: Policy, region: Region) -> Institution | Reason:
    institution = policy.institutions.get(request.target_institution_id or "")
    if institution is None:
        return Reason.UNKNOWN_INSTITUTION
    return institution if institution.region is region else Reason.WRONG_REGION


def _sharing_target(
    request: Request, policy: Policy, person: Person, now: datetime
) -> Reason | None:
    """Sharing consent goes to a registered Hong Kong institution."""
    target = _target(request, policy, Region.HONG_KONG)
    return target if isinstance(target, Reason) else None


def _cross_border_target(
    request: Request, policy: Policy, person: Person, now: datetime
) -> Reason | None:
    """A cross-border application names a Mainland institution designated today, by a
    person who has joined and is old enough today (R4)."""
    target = _target(request, policy, Region.MAINLAND)
    if isinstance(target, Reason):
        return target
    day = today(now)
    if not target.is_designated(day):
        return Reason.NOT_DESIGNATED
    if not person.joined_by(now):
        return Reason.NOT_JOINED
    return None if _eligible(policy, person, day) else Reason.NOT_ELIGIBLE


def _radiology_target(
    request: Request, policy: Policy, person: Person, now: datetime
) -> Reason | None:
    """A radiology authorisation names a Mainland institution depositing from today (R5)."""
    target = _target(request, policy, Region.MAINLAND)
    if isinstance(target, Reason):
        return target
    return None if target.is_radiology_depositor(today(now)) else Reason.NOT_RADIOLOGY_DEPOSITOR


def _eligible(policy: Policy, person: Person, day: date) -> bool:
    """May ``person`` apply for the cross-border record on Hong Kong date ``day``?"""
    min_age = policy.rules_on(day).cross_border_min_age
    return min_age == 0 or age_on(person.date_of_birth, day) >= min_age


_CONSENT_TARGET_CHECKS: dict[Action, Callable[[Request, Policy, Person, datetime], Reason | None]]
_CONSENT_TARGET_CHECKS = {
    Action.GRANT_SHARING_CONSENT: _sharing_target,
    Action.APPLY_CROSS_BORDER: _cross_border_target,
    Action.GRANT_RADIOLOGY_AUTHORISATION: _radiology_target,
}
