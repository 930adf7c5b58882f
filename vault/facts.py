"""Loads what :func:`policies.decide` needs about one person from the database.

Rows become the policy's frozen dataclasses. Everything about the person is loaded
(revoked and expired consents included): the policy, not the query, decides what is
still in force, so there is exactly one implementation of "active" (R8).
"""

from __future__ import annotations

from sqlmodel import Session, select

from policies import model as pm
from policies.policy_file import Policy
from policies.vocabulary import Category, ConsentKind, Source
from vault import models as db


def _sources(csv: str) -> frozenset[Source]:
    return frozenset(Source(s) for s in csv.split(",") if s)


def _categories(csv: str) -> frozenset[Category]:
    return frozenset(Category(c) for c in csv.split(",") if c)


def person_facts(row: db.Person) -> pm.Person | None:
    if row.erased_at is not None:
        return None
    return pm.Person(row.id, row.date_of_birth, row.joined_at)


def load_facts(session: Session, policy: Policy, person_id: str) -> pm.Facts:
    person = session.get(db.Person, person_id)
    if person is None or person.erased_at is not None:
        return pm.Facts(policy=policy)
    where = person_id
    return pm.Facts(
        policy=policy,
        person=person_facts(person),
        sharing_consents=tuple(
            pm.SharingConsent(
                c.id,
                c.person_id,
                c.institution_id,
                ConsentKind(c.kind),
                _sources(c.scopes),
                c.granted_at,
                c.expires_at,
                c.revoked_at,
            )
            for c in session.exec(
                select(db.SharingConsent).where(db.SharingConsent.person_id == where)
            )
        ),
        cross_border_authorisations=tuple(
            pm.CrossBorderAuthorisation(
                a.id, a.person_id, a.institution_id, a.issued_at, a.expires_at, a.revoked_at
            )
            for a in session.exec(
                select(db.CrossBorderAuthorisation).where(
                    db.CrossBorderAuthorisation.person_id == where
                )
            )
        ),
        viewing_sessions=tuple(
            pm.ViewingSession(
                v.id,
                v.authorisation_id,
                v.institution_id,
                v.professional_id,
                v.opened_at,
                v.expires_at,
            )
            for v in session.exec(
                select(db.ViewingSession).where(db.ViewingSession.person_id == where)
            )
        ),
        radiology_authorisations=tuple(
            pm.RadiologyAuthorisation(
                r.id,
                r.person_id,
                r.institution_id,
                r.issued_at,
                r.expires_at,
                r.revoked_at or r.used_at,
            )
            for r in session.exec(
                select(db.RadiologyAuthorisation).where(
                    db.RadiologyAuthorisation.person_id == where
                )
            )
        ),
        restricted_grants=tuple(
            pm.RestrictedAccessGrant(
                g.id,
                g.person_id,
                g.institution_id,
                g.professional_id,
                _categories(g.categories),
                g.consent_id,
                g.confirmed_at,
                g.expires_at or g.otp_expires_at,
            )
            for g in session.exec(
                select(db.RestrictedAccessRequest).where(
                    db.RestrictedAccessRequest.person_id == where
                )
            )
        ),
        delegations=tuple(
            pm.CaregiverDelegation(
                d.id, d.person_id, d.caregiver_id, d.granted_at, d.expires_at, d.revoked_at
            )
            for d in session.exec(
                select(db.CaregiverDelegation).where(db.CaregiverDelegation.person_id == where)
            )
        ),
    )
