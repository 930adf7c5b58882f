"""crossvault's access rules: who may do what with a person's records, and why.

Pure: the standard library only, no I/O, no clock. The API loads a :class:`Policy` once
(:func:`load_policy`), loads the :class:`Facts` about one person per request, and asks
:func:`decide` before anything is decrypted::

    decision = decide(request, facts, now)
    if decision.allowed:
        rows = store.records(person, where=decision.obligations)  # never a post-filter

Decisions where the contract (docs/design.md) is silent:

- Deny obligations are one constant (:data:`NOTHING`); the reason is for the audit only.
- A record-specific decision carries the same visible set as the list would, so the store
  can apply one predicate to lists and to single rows alike (``Obligations.admits``).
- Implied sharing (HA, DH) covers the ``ehr`` source only; the Personal Folder needs an
  explicit consent with that scope. Scopes of all active consents of one institution add
  up; the consent relied on is the latest-granted active one covering the record's source.
- A restricted-access grant names the consent it was obtained under and ends with it.
- Short-lived grants are capped by the policy whatever ``expires_at`` the store wrote:
  restricted grant, viewing session, break-glass access. Long-lived consents and
  authorisations end at their stored ``expires_at`` (stamped by the ``Policy`` helpers).
- Cross-border: eligibility (age on the application's Hong Kong date, 29 Feb birthdays on
  28 Feb in common years) and the processing delay follow the timeline entry in force on
  the issue date; "up to 72 h" is modelled as exactly 72 h. No role filter applies to
  cross-border viewers (R4 names none).
- eHR deposits: the record must be ``ehr`` in the sharable scope and in the depositor's
  own name; before 2025-12-01 the depositor needs sharing consent covering ``ehr``.
- A citizen token with ``on_behalf_of`` naming someone else is judged as a caregiver.
- Lab and radiology reports reaching the person's own view 14 days after release is
  calibration for the simulation, not an access rule: the owner always sees everything.
"""

from policies.dates import HONG_KONG, age_on, hk_date, shift_years
from policies.engine import decide
from policies.model import (
    NOTHING,
    Actor,
    BreakGlassAccess,
    CaregiverDelegation,
    CrossBorderAuthorisation,
    Decision,
    Facts,
    Obligations,
    Person,
    RadiologyAuthorisation,
    RecordRef,
    Request,
    RestrictedAccessGrant,
    SharingConsent,
    ViewingSession,
)
from policies.policy import BreakGlassRule, Durations, Institution, Policy, TimelineEntry
from policies.policy_file import PolicyError, bundled_policy_paths, default_policy_path, load_policy
from policies.vocabulary import (
    Action,
    ActorKind,
    Category,
    ConsentKind,
    InstitutionKind,
    Profession,
    Reason,
    Region,
    SharingScope,
    Source,
    Standing,
)

__all__ = [
    "HONG_KONG",
    "NOTHING",
    "Action",
    "Actor",
    "ActorKind",
    "BreakGlassAccess",
    "BreakGlassRule",
    "CaregiverDelegation",
    "Category",
    "ConsentKind",
    "CrossBorderAuthorisation",
    "Decision",
    "Durations",
    "Facts",
    "Institution",
    "InstitutionKind",
    "Obligations",
    "Person",
    "Policy",
    "PolicyError",
    "Profession",
    "RadiologyAuthorisation",
    "Reason",
    "RecordRef",
    "Region",
    "Request",
    "RestrictedAccessGrant",
    "SharingConsent",
    "SharingScope",
    "Source",
    "Standing",
    "TimelineEntry",
    "ViewingSession",
    "age_on",
    "bundled_policy_paths",
    "decide",
    "default_policy_path",
    "hk_date",
    "load_policy",
    "shift_years",
]
