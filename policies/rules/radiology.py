"""R5: designated Mainland radiology depositors file radiology into the Personal Folder
with the person's Authorisation QR code; they never read (deposit receipts aside)."""

from __future__ import annotations

from policies.model import Decision
from policies.rules.common import OPEN, deny
from policies.rules.professional import RuleContext
from policies.vocabulary import Reason, Source, Standing


def mainland_deposit_radiology(ctx: RuleContext) -> Decision:
    """The institution deposits radiology from its start date; the record is of a
    radiology category, in the Personal Folder, in its own name; and the person's
    authorisation for it (the one named, if any) is active and issued."""
    record = ctx.deposited_record
    institution = ctx.institution
    if not institution.is_radiology_depositor(ctx.today):
        return deny(Reason.NOT_RADIOLOGY_DEPOSITOR)
    if record.category not in ctx.policy.radiology_categories:
        return deny(Reason.NOT_RADIOLOGY_CATEGORY)
    if record.source != Source.PERSONAL_FOLDER:
        return deny(Reason.NOT_PERSONAL_FOLDER)
    if record.depositor_institution_id not in (None, institution.id):
        return deny(Reason.WRONG_INSTITUTION)
    wanted, now = ctx.request.authorisation_id, ctx.now
    for a in ctx.facts.radiology_authorisations:
        if (
            a.person_id == ctx.person.id
            and a.institution_id == institution.id
            and (wanted is None or a.id == wanted)
            and a.status_at(now) is Standing.ACTIVE
            and a.issued_at <= now
        ):
            return Decision(True, Reason.RADIOLOGY_AUTHORISATION, a.id, obligations=OPEN)
    return deny(Reason.NO_RADIOLOGY_AUTHORISATION)
