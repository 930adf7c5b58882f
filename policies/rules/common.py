"""Decision shapes and checks every rule family shares."""

from __future__ import annotations

from datetime import date, datetime

from policies.dates import HONG_KONG
from policies.model import Decision, Obligations, RecordRef
from policies.policy import Policy
from policies.vocabulary import Action, Category, Reason, Source

CATEGORIES = frozenset(Category)
SOURCES = frozenset(Source)
EHR_ONLY = frozenset({Source.EHR})
NO_SOURCES: frozenset[Source] = frozenset()
OPEN = Obligations()
"""The obligations of an allow that restricts nothing (the owner, a deposit)."""

RECORD_ACTIONS = frozenset(
    {
        Action.READ_RECORD,
        Action.READ_CONTENT,
        Action.DEPOSIT_RECORD,
        Action.ADD_TO_FOLDER,
        Action.DEPOSIT_RADIOLOGY,
        Action.READ_DEPOSIT_RECEIPT,
    }
)
"""The actions about one record: ``request.record`` must be given and well-formed."""

_DENIED = {reason: Decision(False, reason) for reason in Reason}


def deny(reason: Reason) -> Decision:
    """The one shape of every deny: nothing visible, nothing relied on (R10)."""
    return _DENIED[reason]


def allow(
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


def record_problem(record: RecordRef | None) -> Reason | None:
    """Why a record-specific request cannot be judged: no record, or an unknown category or
    source (bad input is a deny, never an exception)."""
    if record is None:
        return Reason.MISSING_RECORD
    if record.category not in CATEGORIES:
        return Reason.UNKNOWN_CATEGORY
    if record.source not in SOURCES:
        return Reason.UNKNOWN_SOURCE
    return None


def today(now: datetime) -> date:
    """The Hong Kong calendar date every date rule is judged on."""
    return now.astimezone(HONG_KONG).date()
