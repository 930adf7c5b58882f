"""R4: Mainland professionals view a person's eHR through a viewing session.

The institution must be designated today. Scanning the application code and passcode
opens a session bound to one professional of one institution; the session ends with its
authorisation (R8) and is capped by the policy. An authorisation is usable after the
processing delay in force on its Hong Kong issue date, if the person was old enough on
that date. A viewer sees eHRs of the sharable scope whose clinical date lies in the
lookback, judged on today's Hong Kong date. No role filter applies (R4 names none).
"""

from __future__ import annotations

from datetime import date, datetime

from policies.dates import age_on
from policies.model import (
    CrossBorderAuthorisation,
    Decision,
    Obligations,
    RecordRef,
    ViewingSession,
)
from policies.policy import Policy
from policies.rules.common import EHR_ONLY, allow, deny, today
from policies.rules.professional import RuleContext
from policies.vocabulary import Reason, Source, Standing

_LAPSED_AUTHORISATION = {
    Standing.REVOKED: Reason.AUTHORISATION_REVOKED,
    Standing.EXPIRED: Reason.AUTHORISATION_EXPIRED,
    Standing.PENDING: Reason.AUTHORISATION_PENDING,
}


def mainland_open_session(ctx: RuleContext) -> Decision:
    """Scanning the codes: the institution is designated today and the authorisation is
    for it, active, processed and was eligible. The box tells the session's visible_since."""
    day = ctx.today
    if not ctx.institution.is_designated(day):
        return deny(Reason.NOT_DESIGNATED)
    authorisation = _authorisation(ctx, ctx.request.authorisation_id)
    if isinstance(authorisation, Reason):
        return deny(authorisation)
    box = _cross_border_box(ctx.policy, day, notify=False)
    return Decision(True, Reason.CROSS_BORDER_AUTHORISATION, authorisation.id, obligations=box)


def mainland_view(ctx: RuleContext) -> Decision:
    """R4: a session bound to this professional and institution, its authorisation active,
    eHRs of the sharable scope inside the lookback, judged on today's Hong Kong date."""
    day = ctx.today
    if not ctx.institution.is_designated(day):
        return deny(Reason.NOT_DESIGNATED)
    session = _session(ctx)
    if isinstance(session, Reason):
        return deny(session)
    authorisation = _authorisation(ctx, session.authorisation_id)
    if isinstance(authorisation, Reason):
        return deny(authorisation)
    policy = ctx.policy
    box = _cross_border_box(policy, day, notify=True)
    record = ctx.viewed_record
    if record is not None and not box.admits(record):
        return deny(_outside_the_box(ctx, record))
    return allow(policy, Reason.CROSS_BORDER_SESSION, authorisation.id, session.id, box)


def _session(ctx: RuleContext) -> ViewingSession | Reason:
    """The session the request names, if it is this professional's at this institution
    and in force now (opened, not closed, not past its end or the policy's cap)."""
    session = _find_session(ctx, ctx.request.session_id)
    if session is None:
        return Reason.NO_SESSION
    if session.institution_id != ctx.institution.id:
        return Reason.WRONG_INSTITUTION
    if session.professional_id != ctx.request.actor.professional_id:
        return Reason.WRONG_PROFESSIONAL
    now = ctx.now
    if (
        now < session.opened_at
        or session.expires_at <= now
        or (session.closed_at is not None and session.closed_at <= now)
        or session.opened_at + ctx.policy.durations.viewing_session <= now
    ):
        return Reason.SESSION_EXPIRED
    return session


def _authorisation(ctx: RuleContext, ident: str | None) -> CrossBorderAuthorisation | Reason:
    """The authorisation ``ident``, if it is the person's, for this institution, active
    now (not revoked, expired or pending) and the person was eligible when applying."""
    found = _find_authorisation(ctx, ident)
    if found is None or found.person_id != ctx.person.id:
        return Reason.NO_AUTHORISATION
    if found.institution_id != ctx.institution.id:
        return Reason.WRONG_INSTITUTION
    ready_at, applied_on, min_age = _application(ctx.policy, found.issued_at)
    standing = found.status_at(ctx.now, ready_at=ready_at)
    if standing is not Standing.ACTIVE:
        return _LAPSED_AUTHORISATION[standing]
    if min_age and age_on(ctx.person.date_of_birth, applied_on) < min_age:
        return Reason.NOT_ELIGIBLE
    return found


def _find_session(ctx: RuleContext, ident: str | None) -> ViewingSession | None:
    for s in ctx.facts.viewing_sessions:
        if s.id == ident:
            return s
    return None


def _find_authorisation(ctx: RuleContext, ident: str | None) -> CrossBorderAuthorisation | None:
    for a in ctx.facts.cross_border_authorisations:
        if a.id == ident:
            return a
    return None


def _application(policy: Policy, issued_at: datetime) -> tuple[datetime, date, int]:
    """For an authorisation issued at ``issued_at``: when it becomes usable, its Hong Kong
    application date, and the minimum age then in force."""
    key = ("application", issued_at)
    application: tuple[datetime, date, int] | None = policy.memo.get(key)
    if application is None:
        day = today(issued_at)
        rules = policy.rules_on(day)
        application = (issued_at + rules.cross_border_processing, day, rules.cross_border_min_age)
        policy.remember(key, application)
    return application


def _cross_border_box(policy: Policy, day: date, notify: bool) -> Obligations:
    """What a cross-border viewer sees on ``day``: eHRs of the sharable scope with
    clinical dates in the lookback."""
    key = ("cross_border_box", day, notify)
    box: Obligations | None = policy.memo.get(key)
    if box is None:
        box = Obligations(
            categories=policy.sharable_categories,
            sources=EHR_ONLY,
            visible_since=policy.visible_since(day),
            visible_until=day,
            notify_person=notify,
        )
        policy.remember(key, box)
    return box


def _outside_the_box(ctx: RuleContext, record: RecordRef) -> Reason:
    """Why a record outside the box is denied: a depositor's own folder deposit, not in the
    sharable scope, or outside the lookback."""
    if record.source != Source.EHR and record.depositor_institution_id == ctx.institution.id:
        return Reason.DEPOSITOR_CANNOT_READ
    if record.source != Source.EHR or record.category not in ctx.policy.sharable_categories:
        return Reason.NOT_SHARABLE
    return Reason.OUTSIDE_LOOKBACK
