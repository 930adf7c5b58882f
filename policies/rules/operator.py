"""R9: operators manage the registry, the keys and the audit; they never see content."""

from __future__ import annotations

from datetime import datetime

from policies.model import Decision, Facts, Request
from policies.rules.common import OPEN, deny
from policies.vocabulary import Action, Reason

_OPERATOR_ACTIONS = frozenset({Action.MANAGE_REGISTRY, Action.MANAGE_KEYS, Action.VERIFY_AUDIT})


def operator(request: Request, facts: Facts, now: datetime) -> Decision:
    """An operator may manage the registry and keys and verify the audit; nothing else."""
    if request.action in _OPERATOR_ACTIONS:
        return Decision(True, Reason.OPERATOR, obligations=OPEN)
    return deny(Reason.OPERATOR_NO_CONTENT)
