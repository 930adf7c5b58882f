"""R3: Hong Kong providers read with sharing consent, see their role's categories, and
more only with an OTP-confirmed restricted-access grant; they deposit eHRs.

Implied sharing (HA, DH) covers the ``ehr`` source only. Scopes of all active consents of
one institution add up; the consent relied on is the latest-granted active one covering
the record's source. A restricted-access grant ends with the consent it was obtained
under (R8).
"""

from __future__ import annotations

from policies.model import Decision, Obligations, RecordRef, RestrictedAccessGrant, SharingConsent
from policies.policy import Policy
from policies.rules.break_glass import break_glass_in_force, break_glass_view
from policies.rules.common import EHR_ONLY, NO_SOURCES, OPEN, allow, deny
from policies.rules.professional import RuleContext
from policies.vocabulary import Category, Reason, Source, Standing

_HELD = frozenset({Reason.SHARING_CONSENT, Reason.IMPLIED_SHARING})
_LAPSED_CONSENT = {
    Standing.REVOKED: Reason.CONSENT_REVOKED,
    Standing.EXPIRED: Reason.CONSENT_EXPIRED,
}


Sharing = tuple[Reason, str | None, frozenset[Source]]
"""What :func:`_sharing` answers: (why, the consent relied on, the scopes)."""


def hk_view(ctx: RuleContext) -> Decision:
    """R3: read or list with sharing consent, role-based categories and OTP grants; during
    an emergency access (break-glass) every category of the consented sources."""
    if not ctx.person.joined_by(ctx.now):
        return deny(Reason.NOT_JOINED)
    record = ctx.viewed_record
    held = _sharing(ctx, None if record is None else record.source)
    why, consent_id, scopes = held
    if ctx.facts.policy.break_glass.enabled:
        access = break_glass_in_force(ctx)
        if access is not None:
            return break_glass_view(record, consent_id, scopes, access)
    if why not in _HELD:
        return deny(why)
    return _by_role_and_grants(ctx, record, held)


def hk_deposit(ctx: RuleContext) -> Decision:
    """An HK provider deposits an eHR: the person joined, the record is an eHR in the
    sharable scope, in the institution's own name; before 2025-12-01 (the timeline),
    only with sharing consent."""
    record = ctx.deposited_record
    policy = ctx.policy
    if not ctx.person.joined_by(ctx.now):
        return deny(Reason.NOT_JOINED)
    if record.source != Source.EHR or record.category not in policy.sharable_categories:
        return deny(Reason.NOT_SHARABLE)
    if record.depositor_institution_id not in (None, ctx.institution.id):
        return deny(Reason.WRONG_INSTITUTION)
    if not policy.rules_on(ctx.today).deposit_requires_sharing_consent:
        return Decision(True, Reason.PARTICIPATING_PROVIDER, obligations=OPEN)
    return _with_sharing(ctx, Source.EHR)


def hk_request_restricted(ctx: RuleContext) -> Decision:
    """Asking for (and confirming) an OTP grant needs what reading needs, less the role."""
    if not ctx.person.joined_by(ctx.now):
        return deny(Reason.NOT_JOINED)
    return _with_sharing(ctx, None)


def _with_sharing(ctx: RuleContext, source: Source | None) -> Decision:
    why, consent_id, _ = _sharing(ctx, source)
    if why not in _HELD:
        return deny(why)
    return Decision(True, why, consent_id, obligations=OPEN)


# --- sharing consent ---------------------------------------------------------------------


def _sharing(ctx: RuleContext, source: str | None) -> Sharing:
    """The sharing ``ctx.institution`` holds now: (why, consent relied on, scopes).

    ``why`` is SHARING_CONSENT or IMPLIED_SHARING when it holds one covering ``source``
    (any source, for a list), else the reason it does not: SCOPE_NOT_COVERED when some
    consent is active, else the lapse of the last one that ended, else NO_SHARING_CONSENT.
    ``scopes``: the union over every active consent (plus ``ehr`` when implied). The
    consent relied on is the latest-granted active one covering ``source``.
    """
    institution, person_id, now = ctx.institution, ctx.person.id, ctx.now
    scopes = EHR_ONLY if institution.implied_sharing else NO_SOURCES
    why_not = Reason.NO_SHARING_CONSENT
    relied_on: SharingConsent | None = None
    any_active = False
    for c in ctx.facts.sharing_consents:
        if c.institution_id != institution.id or c.person_id != person_id:
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


# --- role-based categories and restricted-access grants ----------------------------------


def _by_role_and_grants(ctx: RuleContext, record: RecordRef | None, held: Sharing) -> Decision:
    """The profession's general categories are open; a restricted one only through an
    active grant covering it, which the decision names."""
    grants = _grants(ctx) if ctx.facts.restricted_grants else []
    categories = ctx.general
    for g in grants:
        categories = categories | g.categories
    policy = ctx.policy
    why, consent_id, scopes = held
    obligations = _hk_box(policy, categories, scopes)
    if record is None or record.category in ctx.general:
        return allow(policy, why, consent_id, None, obligations)
    for g in grants:
        if record.category in g.categories:
            return allow(policy, Reason.RESTRICTED_GRANT, consent_id, g.id, obligations)
    return deny(Reason.RESTRICTED_CATEGORY)


def _hk_box(
    policy: Policy, categories: frozenset[Category], scopes: frozenset[Source]
) -> Obligations:
    """What an HK provider sees: these categories of these sources; each view notifies."""
    key = ("hk_box", categories, scopes)
    obligations: Obligations | None = policy.memo.get(key)
    if obligations is None:
        obligations = policy.remember(
            key, Obligations(categories=categories, sources=scopes, notify_person=True)
        )
    return obligations


def _grants(ctx: RuleContext) -> list[RestrictedAccessGrant]:
    """The active, OTP-confirmed restricted-access grants of this professional (or the one
    ``restricted_grant_id`` names), capped by the policy's grant duration."""
    wanted = ctx.request.restricted_grant_id
    return [
        g
        for g in ctx.facts.restricted_grants
        if _grant_is_theirs(ctx, g)
        and (wanted is None or g.id == wanted)
        and _grant_in_force(ctx, g)
    ]


def _grant_is_theirs(ctx: RuleContext, grant: RestrictedAccessGrant) -> bool:
    return (
        grant.professional_id == ctx.request.actor.professional_id
        and grant.institution_id == ctx.institution.id
        and grant.person_id == ctx.person.id
    )


def _grant_in_force(ctx: RuleContext, grant: RestrictedAccessGrant) -> bool:
    now = ctx.now
    confirmed_at = grant.confirmed_at
    return (
        confirmed_at is not None
        and confirmed_at <= now
        and now < grant.expires_at
        and now < confirmed_at + ctx.policy.durations.restricted_grant
        and _consent_in_force(ctx, grant.consent_id)
    )


def _consent_in_force(ctx: RuleContext, consent_id: str | None) -> bool:
    """Is the consent a restricted grant was obtained under still active (R8)? A grant
    under implied sharing (``None``) lasts while the institution holds it."""
    if consent_id is None:
        return ctx.institution.implied_sharing
    for c in ctx.facts.sharing_consents:
        if c.id == consent_id:
            return (
                c.person_id == ctx.person.id
                and c.institution_id == ctx.institution.id
                and c.active_at(ctx.now)
            )
    return False
