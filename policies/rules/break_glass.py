"""Break-glass: emergency access, only where the policy enables it.

A professional of a permitted profession invokes it with a written justification; for a
short time box (capped by the policy whatever the store wrote) every category of the eHR,
and of any consented source, is open. Each view notifies the person and is flagged for
review.
"""

from __future__ import annotations

from policies.model import BreakGlassAccess, Decision, Obligations, RecordRef
from policies.rules.common import EHR_ONLY, deny
from policies.rules.professional import RuleContext
from policies.vocabulary import Reason, Source

_INVOKED = Obligations(notify_person=True, review_required=True)


def invoke_break_glass(ctx: RuleContext) -> Decision:
    """Invoking needs the rule enabled, a permitted profession, a joined person and a
    justification of the policy's minimum length (after trimming)."""
    rule = ctx.policy.break_glass
    if not rule.enabled:
        return deny(Reason.BREAK_GLASS_DISABLED)
    if ctx.request.actor.profession not in rule.professions:
        return deny(Reason.BREAK_GLASS_NOT_PERMITTED)
    if not ctx.person.joined_by(ctx.now):
        return deny(Reason.NOT_JOINED)
    justification = (ctx.request.break_glass_justification or "").strip()
    if len(justification) < rule.min_justification_length:
        return deny(Reason.JUSTIFICATION_TOO_SHORT)
    return Decision(True, Reason.BREAK_GLASS, obligations=_INVOKED)


def break_glass_in_force(ctx: RuleContext) -> BreakGlassAccess | None:
    """This professional's emergency access to the person in force now, if the policy
    enables break-glass and their profession may use it."""
    rule = ctx.policy.break_glass
    actor = ctx.request.actor
    if not rule.enabled or actor.profession not in rule.professions:
        return None
    now = ctx.now
    for a in ctx.facts.break_glass_accesses:
        if (
            a.professional_id == actor.professional_id
            and a.institution_id == ctx.institution.id
            and a.person_id == ctx.person.id
            and a.started_at <= now < a.expires_at
            and now < a.started_at + rule.duration
            and a.justification_length >= rule.min_justification_length
        ):
            return a
    return None


def break_glass_view(
    record: RecordRef | None,
    consent_id: str | None,
    scopes: frozenset[Source],
    access: BreakGlassAccess,
) -> Decision:
    """During an emergency access every category of the eHR (and of any consented
    source) is open; each view notifies the person and is flagged for review."""
    obligations = Obligations(sources=scopes | EHR_ONLY, notify_person=True, review_required=True)
    if record is not None and not obligations.admits(record):
        return deny(Reason.SCOPE_NOT_COVERED)
    return Decision(True, Reason.BREAK_GLASS, consent_id, access.id, obligations)
