"""What a decision looks like from outside: the label a metric may carry (R10 in full).

The audit log keeps every decision's real reason. Anything an operator's dashboard shows
is coarser: a refusal that R10 answers like "not found" (every refused read, and every
account refusal that means "you may not act for this person") is one label, ``not_found``,
whatever its reason — so a counter can never tell a hidden record, person, session or
deposit from a missing one. Refused guesses are labelled by what their caller was told
(``invalid_codes`` whether the application code or the passcode was wrong).
"""

from __future__ import annotations

from policies.vocabulary import Action, Reason

NOT_FOUND = "not_found"

# Denials meaning "you may not act for this person at all": answered like a missing person.
INVISIBLE = frozenset(
    {
        Reason.UNKNOWN_PERSON,
        Reason.NOT_OWNER,
        Reason.NO_DELEGATION,
        Reason.DELEGATION_REVOKED,
        Reason.DELEGATION_EXPIRED,
    }
)
# Actions whose every refusal is the canonical 404.
READS = frozenset(
    {
        Action.READ_RECORD,
        Action.READ_CONTENT,
        Action.LIST_RECORDS,
        Action.READ_DEPOSIT_RECEIPT,
        Action.REQUEST_RESTRICTED_ACCESS,
    }
)
# Reasons recorded outside the policy, by what the caller was told.
EVENTS = {
    "unknown_application_code": "invalid_codes",
    "wrong_passcode": "invalid_codes",
    "wrong_otp": "invalid_otp",
    "otp_expired": "otp_expired",
    "already_confirmed": "already_confirmed",
    "invalid_authorisation_code": "invalid_authorisation_code",
    "codes_locked": "locked_out",
    "otp_locked": "locked_out",
    "client_locked": "locked_out",
    "codes_locked_out": "locked_out",
    "otp_locked_out": "locked_out",
    "client_locked_out": "locked_out",
    "operator": "operator",
    "logged_in": "logged_in",
    "registered": "registered",
    "wrong_password": "invalid_grant",
    "login_locked": "too_many_attempts",
    "login_locked_out": "too_many_attempts",
    "no_session": "not_found",
    "no_such_deposit": "not_found",
    "integrity_failure": "integrity_failure",
}


def decision_label(action: str, reason: str, allowed: bool) -> str:
    """The metric label of a policy decision."""
    if allowed:
        return reason
    if action in READS or reason in INVISIBLE:
        return NOT_FOUND
    return reason


def event_label(reason: str) -> str:
    """The metric label of an event recorded outside the policy; an unlisted reason (a
    refusal answered like "not found", such as someone else's session) is ``not_found``."""
    return EVENTS.get(reason, NOT_FOUND)
