"""Loads what :func:`policies.decide` needs about one person from the database.

Rows become the policy's frozen dataclasses. Everything about the person is loaded
(revoked and expired consents included): the policy, not the query, decides what is
still in force, so there is exactly one implementation of "active" (R8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col

from policies import model as pm
from policies.policy_file import Policy
from policies.vocabulary import Category, ConsentKind, Source
from vault.store import tables as db
from vault.store.statements import Prepared


def _columns(table: type[SQLModel], names: str) -> Prepared:
    """``SELECT names FROM table WHERE person_id = :person`` (compiled once)."""
    columns = [getattr(table, name) for name in names.split()]
    return Prepared(sa_select(*columns).where(columns[0] == bindparam("person")))


def _facts(session: Session, query: Prepared, person_id: str) -> Sequence[Any]:
    return query.all(session, {"person": person_id})


def _sources(csv: str) -> frozenset[Source]:
    return frozenset(Source(s) for s in csv.split(",") if s)


def _categories(csv: str) -> frozenset[Category]:
    return frozenset(Category(c) for c in csv.split(",") if c)


def load_facts(session: Session, policy: Policy, person_id: str) -> pm.Facts:
    person = _PERSON.first(session, {"person": person_id})
    if person is None or person[2] is not None:  # unknown, or erased
        return pm.Facts(policy=policy)
    date_of_birth, joined_at, _ = person
    return pm.Facts(
        policy=policy,
        person=pm.Person(person_id, date_of_birth, joined_at),
        sharing_consents=tuple(
            pm.SharingConsent(c_id, pid, iid, ConsentKind(kind), _sources(scopes), *times)
            for pid, c_id, iid, kind, scopes, *times in _facts(session, _CONSENTS, person_id)
        ),
        cross_border_authorisations=tuple(
            pm.CrossBorderAuthorisation(a_id, pid, *rest)
            for pid, a_id, *rest in _facts(session, _CROSS_BORDER, person_id)
        ),
        viewing_sessions=tuple(
            pm.ViewingSession(*rest) for _, *rest in _facts(session, _SESSIONS, person_id)
        ),
        radiology_authorisations=tuple(
            pm.RadiologyAuthorisation(r_id, pid, iid, issued, expires, revoked, used_at=used)
            for pid, r_id, iid, issued, expires, revoked, used in _facts(
                session, _RADIOLOGY, person_id
            )
        ),
        restricted_grants=tuple(
            pm.RestrictedAccessGrant(
                g_id, pid, iid, prof, _categories(cats), consent, confirmed, expires or otp_expires
            )
            for pid, g_id, iid, prof, cats, consent, confirmed, expires, otp_expires in _facts(
                session, _RESTRICTED, person_id
            )
        ),
        delegations=tuple(
            pm.CaregiverDelegation(d_id, pid, *rest)
            for pid, d_id, *rest in _facts(session, _DELEGATIONS, person_id)
        ),
        break_glass_accesses=_emergencies(session, policy, person_id),
    )


def _emergencies(
    session: Session, policy: Policy, person_id: str
) -> tuple[pm.BreakGlassAccess, ...]:
    """The person's break-glass accesses — read only where the policy enables the rule
    (elsewhere they cannot matter, and the default policy pays no query for them)."""
    if not policy.break_glass.enabled:
        return ()
    return tuple(
        pm.BreakGlassAccess(b_id, pid, *rest)
        for pid, b_id, *rest in _facts(session, _BREAK_GLASS, person_id)
    )


_PERSON = Prepared(
    sa_select(
        col(db.Person.date_of_birth), col(db.Person.joined_at), col(db.Person.erased_at)
    ).where(col(db.Person.id) == bindparam("person"))
)
# Each fact's columns, person_id first (the WHERE), in the policy dataclass's order.
_CONSENTS = _columns(
    db.SharingConsent,
    "person_id id institution_id kind scopes granted_at expires_at revoked_at",
)
_CROSS_BORDER = _columns(
    db.CrossBorderAuthorisation,
    "person_id id institution_id issued_at expires_at revoked_at",
)
_SESSIONS = _columns(
    db.ViewingSession,
    "person_id id authorisation_id institution_id professional_id opened_at expires_at",
)
_RADIOLOGY = _columns(
    db.RadiologyAuthorisation,
    "person_id id institution_id issued_at expires_at revoked_at used_at",
)
_RESTRICTED = _columns(
    db.RestrictedAccessRequest,
    "person_id id institution_id professional_id categories consent_id confirmed_at "
    "expires_at otp_expires_at",
)
_DELEGATIONS = _columns(
    db.CaregiverDelegation,
    "person_id id caregiver_id granted_at expires_at revoked_at",
)
_BREAK_GLASS = _columns(
    db.BreakGlassAccess,
    "person_id id institution_id professional_id justification_length started_at expires_at",
)


# --- one row as the policy's fact: so a view's standing is the policy's (``status_at``) ---


def sharing_consent(row: db.SharingConsent) -> pm.SharingConsent:
    return pm.SharingConsent(
        row.id,
        row.person_id,
        row.institution_id,
        ConsentKind(row.kind),
        _sources(row.scopes),
        row.granted_at,
        row.expires_at,
        row.revoked_at,
    )


def delegation(row: db.CaregiverDelegation) -> pm.CaregiverDelegation:
    return pm.CaregiverDelegation(
        row.id, row.person_id, row.caregiver_id, row.granted_at, row.expires_at, row.revoked_at
    )


def cross_border_authorisation(row: db.CrossBorderAuthorisation) -> pm.CrossBorderAuthorisation:
    return pm.CrossBorderAuthorisation(
        row.id, row.person_id, row.institution_id, row.issued_at, row.expires_at, row.revoked_at
    )


def radiology_authorisation(row: db.RadiologyAuthorisation) -> pm.RadiologyAuthorisation:
    return pm.RadiologyAuthorisation(
        row.id,
        row.person_id,
        row.institution_id,
        row.issued_at,
        row.expires_at,
        row.revoked_at,
        used_at=row.used_at,
    )
