"""R9: operators manage the registry, the keys and the audit; institution admins manage
their own institution's professionals and client credentials. Neither ever sees content."""

from __future__ import annotations

from datetime import datetime

from policies.model import Decision, Facts, Request
from policies.rules.common import OPEN, deny
from policies.vocabulary import Action, Reason

_OPERATOR_ACTIONS = frozenset(
    {
        Action.MANAGE_REGISTRY,
        Action.MANAGE_KEYS,
        Action.VERIFY_AUDIT,
        Action.REVIEW_BREAK_GLASS,
        Action.EXPLAIN_ACCESS,  # decisions about a person's records, never their content
    }
)


def operator(request: Request, facts: Facts, now: datetime) -> Decision:
    """An operator may manage the registry and keys, verify the audit and ask what-if
    questions (decisions, no content); nothing else."""
    if request.action in _OPERATOR_ACTIONS:
        return Decision(True, Reason.OPERATOR, obligations=OPEN)
    return deny(Reason.OPERATOR_NO_CONTENT)


def institution_admin(request: Request, facts: Facts, now: datetime) -> Decision:
    """An institution's admin client manages its own institution, and nothing else: no
    other institution, no person's data (R9: separation of duties)."""
    if request.action is not Action.MANAGE_INSTITUTION:
        return deny(Reason.ADMIN_NO_CONTENT)
    institution = request.actor.institution_id
    if institution is None or institution not in facts.policy.institutions:
        return deny(Reason.UNKNOWN_INSTITUTION)
    if request.target_institution_id != institution:
        return deny(Reason.NOT_OWN_INSTITUTION)
    return Decision(True, Reason.INSTITUTION_ADMIN, obligations=OPEN)
