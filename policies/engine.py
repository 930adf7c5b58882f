"""``decide``: rules R1-R11 of DESIGN §2 as one pure function.

Deny by default: every path that does not end in an explicit allow is a deny, and every
check on a path can only deny (any deny wins). ``decide`` reads no clock and does no I/O:
the caller passes the facts and the instant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

from policies.dates import HONG_KONG, age_on
from policies.model import (
    BreakGlassAccess,
    CaregiverDelegation,
    CrossBorderAuthorisation,
    Decision,
    Facts,
    Obligations,
    Person,
    RecordRef,
    Request,
    RestrictedAccessGrant,
)
from policies.policy import Institution, Policy
from policies.vocabulary import Action, ActorKind, Category, Reason, Region, Source, Standing

_CATEGORIES = frozenset(Category)
_SOURCES = frozenset(Source)
_EHR_ONLY = frozenset({Source.EHR})
_NO_SOURCES: frozenset[Source] = frozenset()
_OPEN = Obligations()

_RECORD_ACTIONS = frozenset(
    {
        Action.READ_RECORD,
        Action.READ_CONTENT,
        Action.DEPOSIT_RECORD,
        Action.ADD_TO_FOLDER,
        Action.DEPOSIT_RADIOLOGY,
        Action.READ_DEPOSIT_RECEIPT,
    }
)
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
    }
)
_OPERATOR_ACTIONS = frozenset({Action.MANAGE_REGISTRY, Action.MANAGE_KEYS, Action.VERIFY_AUDIT})
_HELD = frozenset({Reason.SHARING_CONSENT, Reason.IMPLIED_SHARING})

_DENIED = {reason: Decision(False, reason) for reason in Reason}
_LAPSED_DELEGATION = {
    Standing.REVOKED: Reason.DELEGATION_REVOKED,
    Standing.EXPIRED: Reason.DELEGATION_EXPIRED,
}
_LAPSED_CONSENT = {
    Standing.REVOKED: Reason.CONSENT_REVOKED,
    Standing.EXPIRED: Reason.CONSENT_EXPIRED,
}
_LAPSED_AUTHORISATION = {
    Standing.REVOKED: Reason.AUTHORISATION_REVOKED,
    Standing.EXPIRED: Reason.AUTHORISATION_EXPIRED,
    Standing.PENDING: Reason.AUTHORISATION_PENDING,
}


def _deny(reason: Reason) -> Decision:
    """The one shape of every deny: nothing visible, nothing relied on (R10)."""
    return _DENIED[reason]


def decide(request: Request, facts: Facts, now: datetime) -> Decision:
    """Judge ``request`` against ``facts`` at the instant ``now``.

    ``now`` must be timezone-aware (a naive instant is a programming error:
    ``ValueError``). Calendar rules use its Hong Kong date. Bad input in the request
    (unknown institution, profession, category, source) is a deny, never an exception.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    judge = _BY_ACTOR.get(request.actor.kind)
    return _deny(Reason.DEFAULT_DENY) if judge is None else judge(request, facts, now)


# --- shared checks -----------------------------------------------------------------------


def _allow(
    policy: Policy,
    reason: Reason,
    consent_id: str | None,
    grant_id: str | None,
    obligations: Obligations,
) -> Decision:
    """An allow, interned: the same answer is the same (immutable) object, which spares
    building one per call on the hot paths. Still judged afresh on every call."""
    key = ("allow", reason, consent_id, grant_id, id(obligations))
    decision: Decision | None = policy.memo.get(key)
    if decision is None or decision.obligations is not obligations:
        decision = policy.remember(key, Decision(True, reason, consent_id, grant_id, obligations))
    return decision


def _subject(request: Request, facts: Facts) -> Person | None:
    person = facts.person
    return person if person is not None and person.id == request.subject_id else None


def _record_problem(record: RecordRef | None) -> Reason | None:
    if record is None:
        return Reason.MISSING_RECORD
    if record.category not in _CATEGORIES:
        return Reason.UNKNOWN_CATEGORY
    if record.source not in _SOURCES:
        return Reason.UNKNOWN_SOURCE
    return None


def _joined(person: Person, now: datetime) -> bool:
    return person.joined_at is not None and person.joined_at <= now


def _today(now: datetime) -> date:
    return now.astimezone(HONG_KONG).date()


def _eligible(policy: Policy, person: Person, day: date) -> bool:
    """May ``person`` apply for the cross-border record on Hong Kong date ``day``?"""
    min_age = policy.rules_on(day).cross_border_min_age
    return min_age == 0 or age_on(person.date_of_birth, day) >= min_age


# --- R1, R2, R6: the person and their caregivers -----------------------------------------


def _citizen(request: Request, facts: Facts, now: datetime) -> Decision:
    actor = request.actor
    if request.on_behalf_of is not None and request.on_behalf_of != actor.person_id:
        return _caregiver(request, facts, now)
    if actor.person_id is None or actor.person_id != request.subject_id:
        return _deny(Reason.NOT_OWNER)
    person = _subject(request, facts)
    if person is None:
        return _deny(Reason.UNKNOWN_PERSON)
    return _as_person(request, facts, now, person, None)


def _caregiver(request: Request, facts: Facts, now: datetime) -> Decision:
    actor = request.actor
    acting_for = request.on_behalf_of or request.subject_id
    if actor.person_id is None or acting_for != request.subject_id:
        return _deny(Reason.NO_DELEGATION)
    if acting_for == actor.person_id:  # acting for oneself is being the person
        return _citizen(replace(request, on_behalf_of=None), facts, now)
    person = _subject(request, facts)
    if person is None:
        return _deny(Reason.UNKNOWN_PERSON)
    why_not = Reason.NO_DELEGATION
    delegation: CaregiverDelegation | None = None
    for d in facts.delegations:
        if d.person_id != person.id or d.caregiver_id != actor.person_id:
            continue
        standing = d.status_at(now)
        if standing is Standing.ACTIVE:
            delegation = d
            break
        why_not = _LAPSED_DELEGATION.get(standing, why_not)
    if delegation is None:
        return _deny(why_not)
    if request.action is Action.MANAGE_CAREGIVERS:
        return _deny(Reason.DELEGATION_CANNOT_DELEGATE)
    return _as_person(request, facts, now, person, delegation)


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
        return _deny(Reason.DEFAULT_DENY)
    if action in _RECORD_ACTIONS:
        record = request.record
        problem = _record_problem(record)
        if problem is not None:
            return _deny(problem)
        if action is Action.ADD_TO_FOLDER and record and record.source != Source.PERSONAL_FOLDER:
            return _deny(Reason.NOT_PERSONAL_FOLDER)
    check = _CONSENT_TARGET_CHECKS.get(action)
    if check is not None:
        problem = check(request, facts.policy, person, now)
        if problem is not None:
            return _deny(problem)
    if delegation is None:
        return Decision(True, Reason.OWNER, obligations=_OPEN)
    return Decision(
        True, Reason.CAREGIVER, delegation.id, obligations=Obligations(on_behalf_of=person.id)
    )


def _target(request: Request, policy: Policy, region: Region) -> Institution | Reason:
    institution = policy.institutions.get(request.target_institution_id or "")
    if institution is None:
        return Reason.UNKNOWN_INSTITUTION
    return institution if institution.region is region else Reason.WRONG_REGION


def _sharing_target(
    request: Request, policy: Policy, person: Person, now: datetime
) -> Reason | None:
    target = _target(request, policy, Region.HONG_KONG)
    return target if isinstance(target, Reason) else None


def _cross_border_target(
    request: Request, policy: Policy, person: Person, now: datetime
) -> Reason | None:
    target = _target(request, policy, Region.MAINLAND)
    if isinstance(target, Reason):
        return target
    today = _today(now)
    if not target.is_designated(today):
        return Reason.NOT_DESIGNATED
    if not _joined(person, now):
        return Reason.NOT_JOINED
    return None if _eligible(policy, person, today) else Reason.NOT_ELIGIBLE


def _radiology_target(
    request: Request, policy: Policy, person: Person, now: datetime
) -> Reason | None:
    target = _target(request, policy, Region.MAINLAND)
    if isinstance(target, Reason):
        return target
    return None if target.is_radiology_depositor(_today(now)) else Reason.NOT_RADIOLOGY_DEPOSITOR


_CONSENT_TARGET_CHECKS: dict[Action, Callable[[Request, Policy, Person, datetime], Reason | None]]
_CONSENT_TARGET_CHECKS = {
    Action.GRANT_SHARING_CONSENT: _sharing_target,
    Action.APPLY_CROSS_BORDER: _cross_border_target,
    Action.GRANT_RADIOLOGY_AUTHORISATION: _radiology_target,
}


# --- professionals: common ---------------------------------------------------------------


def _professional(region: Region) -> Callable[[Request, Facts, datetime], Decision]:
    actions = _HK_ACTIONS if region is Region.HONG_KONG else _MAINLAND_ACTIONS

    def judge(request: Request, facts: Facts, now: datetime) -> Decision:
        actor = request.actor
        policy = facts.policy
        institution = policy.institutions.get(actor.institution_id or "")
        if institution is None:
            return _deny(Reason.UNKNOWN_INSTITUTION)
        if institution.region is not region:
            return _deny(Reason.WRONG_REGION)
        general = policy.general_categories.get(actor.profession or "")
        if general is None:
            return _deny(Reason.UNKNOWN_PROFESSION)
        if actor.professional_id is None:
            return _deny(Reason.DEFAULT_DENY)
        rule = actions.get(request.action)
        if rule is None:
            return _deny(Reason.DEFAULT_DENY)
        person = facts.person
        if person is None or person.id != request.subject_id:
            return _deny(Reason.UNKNOWN_PERSON)
        if request.action in _RECORD_ACTIONS:
            record = request.record
            if record is None:
                return _deny(Reason.MISSING_RECORD)
            if record.category not in _CATEGORIES:
                return _deny(Reason.UNKNOWN_CATEGORY)
            if record.source not in _SOURCES:
                return _deny(Reason.UNKNOWN_SOURCE)
        return rule(request, facts, now, person, institution, general)

    return judge


def _own_receipt(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    """A depositor sees its own deposit receipts, and nothing else (R5)."""
    record = request.record
    if record is None or record.depositor_institution_id != institution.id:
        return _deny(Reason.WRONG_INSTITUTION)
    return Decision(
        True,
        Reason.OWN_DEPOSIT_RECEIPT,
        obligations=Obligations(depositors=frozenset({institution.id})),
    )


# --- R3: Hong Kong providers -------------------------------------------------------------


def _sharing(
    facts: Facts, person: Person, institution: Institution, now: datetime, source: str | None
) -> tuple[Reason, str | None, frozenset[Source]]:
    """The sharing consent ``institution`` holds now: (why, consent relied on, scopes).

    ``why`` is SHARING_CONSENT or IMPLIED_SHARING when it holds one covering ``source``, else
    the reason it does not. ``scopes``: the union over every active consent (plus ``ehr``
    when implied). The consent relied on is the latest-granted active one covering
    ``source`` (any, for a list).
    """
    institution_id, person_id = institution.id, person.id
    scopes = _EHR_ONLY if institution.implied_sharing else _NO_SOURCES
    why_not = Reason.NO_SHARING_CONSENT
    relied_on = None
    any_active = False
    for c in facts.sharing_consents:
        if c.institution_id != institution_id or c.person_id != person_id:
            continue
        standing = c.status_at(now)
        if standing is not Standing.ACTIVE:
            why_not = _LAPSED_CONSENT.get(standing, why_not)
            continue
        any_active = True
        scopes = scopes | c.scopes if scopes else c.scopes
        if (source is None or source in c.scopes) and (
            relied_on is None or (c.granted_at, c.id) > (relied_on.granted_at, relied_on.id)
        ):
            relied_on = c
    if relied_on is not None:
        return Reason.SHARING_CONSENT, relied_on.id, scopes
    if institution.implied_sharing and (source is None or source == Source.EHR):
        return Reason.IMPLIED_SHARING, None, scopes
    return (Reason.SCOPE_NOT_COVERED if any_active else why_not), None, scopes


def _consent_active(
    facts: Facts, consent_id: str | None, person: Person, institution: Institution, now: datetime
) -> bool:
    """Is the consent a restricted grant was obtained under still active (R8)?"""
    if consent_id is None:
        return institution.implied_sharing
    for c in facts.sharing_consents:
        if c.id == consent_id:
            return (
                c.person_id == person.id and c.institution_id == institution.id and c.active_at(now)
            )
    return False


def _grants(
    request: Request, facts: Facts, now: datetime, person: Person, institution: Institution
) -> list[RestrictedAccessGrant]:
    """The active, OTP-confirmed restricted-access grants of this professional."""
    professional_id = request.actor.professional_id
    wanted = request.restricted_grant_id
    longest = facts.policy.durations.restricted_grant
    return [
        g
        for g in facts.restricted_grants
        if g.professional_id == professional_id
        and g.institution_id == institution.id
        and g.person_id == person.id
        and (wanted is None or g.id == wanted)
        and g.confirmed_at is not None
        and g.confirmed_at <= now
        and now < g.expires_at
        and now < g.confirmed_at + longest
        and _consent_active(facts, g.consent_id, person, institution, now)
    ]


def _hk_view(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    """R3: read or list with sharing consent, role-based categories and OTP grants."""
    joined_at = person.joined_at
    if joined_at is None or now < joined_at:
        return _deny(Reason.NOT_JOINED)
    record = request.record if request.action is not Action.LIST_RECORDS else None
    why, consent_id, scopes = _sharing(
        facts, person, institution, now, None if record is None else record.source
    )
    if facts.policy.break_glass.enabled:
        access = _break_glass(request, facts, now, person, institution)
        if access is not None:
            return _break_glass_view(record, consent_id, scopes, access)
    if why not in _HELD:
        return _deny(why)
    grants = _grants(request, facts, now, person, institution) if facts.restricted_grants else []
    categories = general
    for g in grants:
        categories = categories | g.categories
    policy = facts.policy
    key = ("hk_box", categories, scopes)
    obligations = policy.memo.get(key)
    if obligations is None:
        obligations = policy.remember(
            key,
            Obligations(categories=categories, sources=scopes, notify_person=True),
        )
    if record is None or record.category in general:
        return _allow(policy, why, consent_id, None, obligations)
    for g in grants:
        if record.category in g.categories:
            return _allow(policy, Reason.RESTRICTED_GRANT, consent_id, g.id, obligations)
    return _deny(Reason.RESTRICTED_CATEGORY)


def _hk_deposit(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    """An HK provider deposits an eHR: the person joined, the record is an eHR in the
    sharable scope, in the institution's own name; before 2025-12-01 (the timeline),
    only with sharing consent."""
    record = request.record
    assert record is not None  # checked by the caller
    if not _joined(person, now):
        return _deny(Reason.NOT_JOINED)
    if record.source != Source.EHR or record.category not in facts.policy.sharable_categories:
        return _deny(Reason.NOT_SHARABLE)
    if record.depositor_institution_id not in (None, institution.id):
        return _deny(Reason.WRONG_INSTITUTION)
    if not facts.policy.rules_on(_today(now)).deposit_requires_sharing_consent:
        return Decision(True, Reason.PARTICIPATING_PROVIDER, obligations=_OPEN)
    why, consent_id, _ = _sharing(facts, person, institution, now, Source.EHR)
    if why not in _HELD:
        return _deny(why)
    return Decision(True, why, consent_id, obligations=_OPEN)


def _hk_request_restricted(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    """Asking for (and confirming) an OTP grant needs what reading needs, less the role."""
    if not _joined(person, now):
        return _deny(Reason.NOT_JOINED)
    why, consent_id, _ = _sharing(facts, person, institution, now, None)
    if why not in _HELD:
        return _deny(why)
    return Decision(True, why, consent_id, obligations=_OPEN)


# --- break-glass (only where the policy enables it) --------------------------------------

_BREAK_GLASS_OBLIGATIONS = Obligations(notify_person=True, review_required=True)


def _hk_invoke_break_glass(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    rule = facts.policy.break_glass
    if not rule.enabled:
        return _deny(Reason.BREAK_GLASS_DISABLED)
    if request.actor.profession not in rule.professions:
        return _deny(Reason.BREAK_GLASS_NOT_PERMITTED)
    if not _joined(person, now):
        return _deny(Reason.NOT_JOINED)
    justification = (request.break_glass_justification or "").strip()
    if len(justification) < rule.min_justification_length:
        return _deny(Reason.JUSTIFICATION_TOO_SHORT)
    return Decision(True, Reason.BREAK_GLASS, obligations=_BREAK_GLASS_OBLIGATIONS)


def _break_glass(
    request: Request, facts: Facts, now: datetime, person: Person, institution: Institution
) -> BreakGlassAccess | None:
    """This professional's emergency access in force now, if any."""
    rule = facts.policy.break_glass
    actor = request.actor
    if actor.profession not in rule.professions:
        return None
    for a in facts.break_glass_accesses:
        if (
            a.professional_id == actor.professional_id
            and a.institution_id == institution.id
            and a.person_id == person.id
            and a.started_at <= now < a.expires_at
            and now < a.started_at + rule.duration
            and len(a.justification.strip()) >= rule.min_justification_length
        ):
            return a
    return None


def _break_glass_view(
    record: RecordRef | None,
    consent_id: str | None,
    scopes: frozenset[Source],
    access: BreakGlassAccess,
) -> Decision:
    """During an emergency access every category of the eHR (and of any consented
    source) is open; each view notifies the person and is flagged for review."""
    obligations = Obligations(sources=scopes | _EHR_ONLY, notify_person=True, review_required=True)
    if record is not None and not obligations.admits(record):
        return _deny(Reason.SCOPE_NOT_COVERED)
    return Decision(True, Reason.BREAK_GLASS, consent_id, access.id, obligations)


# --- R4: cross-border viewers ------------------------------------------------------------


def _authorisation_problem(
    policy: Policy,
    authorisation: CrossBorderAuthorisation | None,
    person: Person,
    institution: Institution,
    now: datetime,
) -> Reason | None:
    if authorisation is None or authorisation.person_id != person.id:
        return Reason.NO_AUTHORISATION
    if authorisation.institution_id != institution.id:
        return Reason.WRONG_INSTITUTION
    ready_at, applied_on, min_age = _application(policy, authorisation.issued_at)
    standing = authorisation.status_at(now, ready_at=ready_at)
    if standing is not Standing.ACTIVE:
        return _LAPSED_AUTHORISATION[standing]
    if min_age and age_on(person.date_of_birth, applied_on) < min_age:
        return Reason.NOT_ELIGIBLE
    return None


def _find_authorisation(facts: Facts, ident: str | None) -> CrossBorderAuthorisation | None:
    for a in facts.cross_border_authorisations:
        if a.id == ident:
            return a
    return None


def _cross_border_box(policy: Policy, today: date, notify: bool) -> Obligations:
    """What a cross-border viewer sees on ``today``: eHRs of the sharable scope with
    clinical dates in the lookback."""
    key = ("cross_border_box", today, notify)
    box: Obligations | None = policy.memo.get(key)
    if box is None:
        box = Obligations(
            categories=policy.sharable_categories,
            sources=_EHR_ONLY,
            visible_since=policy.visible_since(today),
            visible_until=today,
            notify_person=notify,
        )
        policy.remember(key, box)
    return box


def _application(policy: Policy, issued_at: datetime) -> tuple[datetime, date, int]:
    """For an authorisation issued at ``issued_at``: when it becomes usable, its Hong Kong
    application date, and the minimum age then in force."""
    key = ("application", issued_at)
    application: tuple[datetime, date, int] | None = policy.memo.get(key)
    if application is None:
        day = _today(issued_at)
        rules = policy.rules_on(day)
        application = (issued_at + rules.cross_border_processing, day, rules.cross_border_min_age)
        policy.remember(key, application)
    return application


def _mainland_open_session(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    """Scanning the codes: the institution is designated today and the authorisation is
    for it, active, processed and was eligible. The box tells the session's visible_since."""
    today = _today(now)
    if not institution.is_designated(today):
        return _deny(Reason.NOT_DESIGNATED)
    authorisation = _find_authorisation(facts, request.authorisation_id)
    problem = _authorisation_problem(facts.policy, authorisation, person, institution, now)
    if problem is not None or authorisation is None:
        return _deny(problem or Reason.NO_AUTHORISATION)
    box = _cross_border_box(facts.policy, today, notify=False)
    return Decision(True, Reason.CROSS_BORDER_AUTHORISATION, authorisation.id, obligations=box)


def _mainland_view(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    """R4: a session bound to this professional and institution, its authorisation active,
    eHRs of the sharable scope inside the lookback, judged on today's Hong Kong date."""
    policy = facts.policy
    today = _today(now)
    if not institution.is_designated(today):
        return _deny(Reason.NOT_DESIGNATED)
    session = None
    for s in facts.viewing_sessions:
        if s.id == request.session_id:
            session = s
            break
    if session is None:
        return _deny(Reason.NO_SESSION)
    if session.institution_id != institution.id:
        return _deny(Reason.WRONG_INSTITUTION)
    if session.professional_id != request.actor.professional_id:
        return _deny(Reason.WRONG_PROFESSIONAL)
    if (
        now < session.opened_at
        or session.expires_at <= now
        or (session.closed_at is not None and session.closed_at <= now)
        or session.opened_at + policy.durations.viewing_session <= now
    ):
        return _deny(Reason.SESSION_EXPIRED)
    authorisation = _find_authorisation(facts, session.authorisation_id)
    problem = _authorisation_problem(policy, authorisation, person, institution, now)
    if problem is not None or authorisation is None:
        return _deny(problem or Reason.NO_AUTHORISATION)
    box = _cross_border_box(policy, today, notify=True)
    record = request.record if request.action is not Action.LIST_RECORDS else None
    if record is not None and not box.admits(record):
        if record.source != Source.EHR and record.depositor_institution_id == institution.id:
            return _deny(Reason.DEPOSITOR_CANNOT_READ)
        if record.source != Source.EHR or record.category not in policy.sharable_categories:
            return _deny(Reason.NOT_SHARABLE)
        return _deny(Reason.OUTSIDE_LOOKBACK)
    return _allow(policy, Reason.CROSS_BORDER_SESSION, authorisation.id, session.id, box)


# --- R5: radiology depositors ------------------------------------------------------------


def _mainland_deposit_radiology(
    request: Request,
    facts: Facts,
    now: datetime,
    person: Person,
    institution: Institution,
    general: frozenset[Category],
) -> Decision:
    record = request.record
    assert record is not None  # checked by the caller
    if not institution.is_radiology_depositor(_today(now)):
        return _deny(Reason.NOT_RADIOLOGY_DEPOSITOR)
    if record.category not in facts.policy.radiology_categories:
        return _deny(Reason.NOT_RADIOLOGY_CATEGORY)
    if record.source != Source.PERSONAL_FOLDER:
        return _deny(Reason.NOT_PERSONAL_FOLDER)
    if record.depositor_institution_id not in (None, institution.id):
        return _deny(Reason.WRONG_INSTITUTION)
    wanted = request.authorisation_id
    for a in facts.radiology_authorisations:
        if (
            a.person_id == person.id
            and a.institution_id == institution.id
            and (wanted is None or a.id == wanted)
            and a.status_at(now) is Standing.ACTIVE
            and a.issued_at <= now
        ):
            return Decision(True, Reason.RADIOLOGY_AUTHORISATION, a.id, obligations=_OPEN)
    return _deny(Reason.NO_RADIOLOGY_AUTHORISATION)


# --- R9: operators -----------------------------------------------------------------------


def _operator(request: Request, facts: Facts, now: datetime) -> Decision:
    if request.action in _OPERATOR_ACTIONS:
        return Decision(True, Reason.OPERATOR, obligations=_OPEN)
    return _deny(Reason.OPERATOR_NO_CONTENT)


# --- dispatch ----------------------------------------------------------------------------

_Rule = Callable[[Request, Facts, datetime, Person, Institution, frozenset[Category]], Decision]

_HK_ACTIONS: dict[Action, _Rule] = {
    Action.READ_RECORD: _hk_view,
    Action.READ_CONTENT: _hk_view,
    Action.LIST_RECORDS: _hk_view,
    Action.DEPOSIT_RECORD: _hk_deposit,
    Action.REQUEST_RESTRICTED_ACCESS: _hk_request_restricted,
    Action.INVOKE_BREAK_GLASS: _hk_invoke_break_glass,
    Action.READ_DEPOSIT_RECEIPT: _own_receipt,
}
_MAINLAND_ACTIONS: dict[Action, _Rule] = {
    Action.READ_RECORD: _mainland_view,
    Action.READ_CONTENT: _mainland_view,
    Action.LIST_RECORDS: _mainland_view,
    Action.OPEN_VIEWING_SESSION: _mainland_open_session,
    Action.DEPOSIT_RADIOLOGY: _mainland_deposit_radiology,
    Action.READ_DEPOSIT_RECEIPT: _own_receipt,
}
_BY_ACTOR: dict[str, Callable[[Request, Facts, datetime], Decision]] = {
    ActorKind.CITIZEN: _citizen,
    ActorKind.CAREGIVER: _caregiver,
    ActorKind.HK_PROFESSIONAL: _professional(Region.HONG_KONG),
    ActorKind.MAINLAND_PROFESSIONAL: _professional(Region.MAINLAND),
    ActorKind.OPERATOR: _operator,
}
