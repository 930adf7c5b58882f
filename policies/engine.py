"""``decide``: rules R1-R11 of docs/design.md#access-rules as one pure function.

Deny by default: every path that does not end in an explicit allow is a deny, and every
check on a path can only deny (any deny wins). ``decide`` reads no clock and does no I/O:
the caller passes the facts and the instant.

This module only dispatches: by the kind of actor, then (for professionals, after the
gate in :mod:`policies.rules.professional`) by the action, to the rules in
:mod:`policies.rules`.
"""

from __future__ import annotations

from datetime import datetime

from policies.model import Decision, Facts, Request
from policies.rules.break_glass import invoke_break_glass
from policies.rules.common import deny
from policies.rules.cross_border import mainland_open_session, mainland_view
from policies.rules.operator import institution_admin, operator
from policies.rules.person import caregiver, citizen
from policies.rules.professional import Judge, Rule, own_receipt, professionals
from policies.rules.provider import hk_deposit, hk_request_restricted, hk_view
from policies.rules.radiology import mainland_deposit_radiology
from policies.vocabulary import Action, ActorKind, Reason, Region


def decide(request: Request, facts: Facts, now: datetime) -> Decision:
    """Judge ``request`` against ``facts`` at the instant ``now``.

    ``now`` must be timezone-aware (a naive instant is a programming error:
    ``ValueError``). Calendar rules use its Hong Kong date. Bad input in the request
    (unknown institution, profession, category, source) is a deny, never an exception.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    judge = _BY_ACTOR.get(request.actor.kind)
    return deny(Reason.DEFAULT_DENY) if judge is None else judge(request, facts, now)


_HK_RULES: dict[Action, Rule] = {
    Action.READ_RECORD: hk_view,
    Action.READ_CONTENT: hk_view,
    Action.LIST_RECORDS: hk_view,
    Action.DEPOSIT_RECORD: hk_deposit,
    Action.REQUEST_RESTRICTED_ACCESS: hk_request_restricted,
    Action.INVOKE_BREAK_GLASS: invoke_break_glass,
    Action.READ_DEPOSIT_RECEIPT: own_receipt,
}
_MAINLAND_RULES: dict[Action, Rule] = {
    Action.READ_RECORD: mainland_view,
    Action.READ_CONTENT: mainland_view,
    Action.LIST_RECORDS: mainland_view,
    Action.OPEN_VIEWING_SESSION: mainland_open_session,
    Action.DEPOSIT_RADIOLOGY: mainland_deposit_radiology,
    Action.READ_DEPOSIT_RECEIPT: own_receipt,
}
_BY_ACTOR: dict[str, Judge] = {
    ActorKind.CITIZEN: citizen,
    ActorKind.CAREGIVER: caregiver,
    ActorKind.HK_PROFESSIONAL: professionals(Region.HONG_KONG, _HK_RULES),
    ActorKind.MAINLAND_PROFESSIONAL: professionals(Region.MAINLAND, _MAINLAND_RULES),
    ActorKind.OPERATOR: operator,
    ActorKind.INSTITUTION_ADMIN: institution_admin,
}
