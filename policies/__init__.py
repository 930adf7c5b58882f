"""crossvault's access rules: who may do what with a person's records, and why.

Pure: the standard library only, no I/O, no clock. The API loads a :class:`Policy` once
(:func:`load_policy`), loads the :class:`Facts` about one person per request, and asks
:func:`decide` before anything is decrypted::

    decision = decide(request, facts, now)
    if decision.allowed:
        rows = store.records(person, where=decision.obligations)  # never a post-filter
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
from policies.policy_file import (
    BreakGlassRule,
    Durations,
    Institution,
    Policy,
    PolicyError,
    TimelineEntry,
    bundled_policy_paths,
    default_policy_path,
    load_policy,
)
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
