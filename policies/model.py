"""What :func:`policies.decide` is asked (:class:`Request`), what it is told
(:class:`Facts`), and what it answers (:class:`Decision` with :class:`Obligations`).

All are frozen, slotted dataclasses holding tuples and frozensets: hashable, cheap to build,
safe to share between threads. Values that arrive from outside (an institution id, a
profession, a record's category or source) are plain ``str`` so that an unknown value is
representable; :func:`policies.decide` turns it into a deny with its own reason, never an
exception.

Each consent kind says where it stands at an instant (``status_at``, a
:class:`~policies.vocabulary.Standing`): the one definition of "in force" that the rules
use, and that a store showing consents to the person should use too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from policies.policy import Policy
from policies.vocabulary import (
    Action,
    ActorKind,
    Category,
    ConsentKind,
    Reason,
    Source,
    Standing,
)

# --- the request -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks. Citizens and caregivers carry ``person_id``; professionals carry their
    ``institution_id``, ``professional_id`` and ``profession``; the operator carries none."""

    kind: ActorKind
    person_id: str | None = None
    institution_id: str | None = None
    professional_id: str | None = None
    profession: str | None = None

    @classmethod
    def citizen(cls, person_id: str) -> Actor:
        return cls(ActorKind.CITIZEN, person_id=person_id)

    @classmethod
    def caregiver(cls, person_id: str) -> Actor:
        return cls(ActorKind.CAREGIVER, person_id=person_id)

    @classmethod
    def hk_professional(cls, institution_id: str, professional_id: str, profession: str) -> Actor:
        return cls(
            ActorKind.HK_PROFESSIONAL,
            institution_id=institution_id,
            professional_id=professional_id,
            profession=profession,
        )

    @classmethod
    def mainland_professional(
        cls, institution_id: str, professional_id: str, profession: str
    ) -> Actor:
        return cls(
            ActorKind.MAINLAND_PROFESSIONAL,
            institution_id=institution_id,
            professional_id=professional_id,
            profession=profession,
        )

    @classmethod
    def operator(cls) -> Actor:
        return cls(ActorKind.OPERATOR)


@dataclass(frozen=True, slots=True)
class RecordRef:
    """The attributes of one record that access depends on (never its content)."""

    category: str
    source: str
    clinical_date: date
    depositor_institution_id: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One access request about the person ``subject_id``.

    ``record`` is required for record-specific actions (read, content, deposit, receipt).
    ``on_behalf_of`` is the person a caregiver acts for (defaults to ``subject_id``).
    ``session_id`` names a cross-border viewing session; ``authorisation_id`` a cross-border
    or radiology authorisation; ``restricted_grant_id`` narrows R3 to one grant;
    ``target_institution_id`` is the institution a consent is given to.
    """

    actor: Actor
    action: Action
    subject_id: str | None = None
    record: RecordRef | None = None
    on_behalf_of: str | None = None
    session_id: str | None = None
    authorisation_id: str | None = None
    restricted_grant_id: str | None = None
    target_institution_id: str | None = None
    break_glass_justification: str | None = None

    @property
    def audit_identities(self) -> tuple[str, ...]:
        """The identities an audit entry for this request names (both for a caregiver)."""
        actor = self.actor
        if actor.kind in (ActorKind.CITIZEN, ActorKind.CAREGIVER):
            ids: tuple[str, ...] = (actor.person_id or "",)
            acting_for = self.on_behalf_of or self.subject_id
            if acting_for is not None and acting_for != actor.person_id:
                ids += (acting_for,)
            return ids
        if actor.kind is ActorKind.OPERATOR:
            return ("operator",)
        return (f"{actor.institution_id}/{actor.professional_id}",)


# --- the facts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """The subject. ``joined_at`` is when they joined eHealth (``None``: not joined)."""

    id: str
    date_of_birth: date
    joined_at: datetime | None = None

    def joined_by(self, now: datetime) -> bool:
        """Whether they have joined eHealth by ``now``."""
        return self.joined_at is not None and self.joined_at <= now


class _Granted:
    """The lifetime of a consent or delegation: from ``granted_at`` until revoked or
    expired. Revocation is checked before expiry."""

    __slots__ = ()
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def status_at(self, now: datetime) -> Standing:
        """``not_yet`` before ``granted_at``; then ``revoked`` from ``revoked_at``, else
        ``expired`` from ``expires_at``; else ``active``."""
        if now < self.granted_at:
            return Standing.NOT_YET
        if self.revoked_at is not None and self.revoked_at <= now:
            return Standing.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return Standing.EXPIRED
        return Standing.ACTIVE

    def active_at(self, now: datetime) -> bool:
        """Whether it is in force at ``now``."""
        return self.status_at(now) is Standing.ACTIVE


@dataclass(frozen=True, slots=True)
class SharingConsent(_Granted):
    """Lets HK institution ``institution_id`` view the person's records in ``scopes``."""

    id: str
    person_id: str
    institution_id: str
    kind: ConsentKind
    scopes: frozenset[Source]
    granted_at: datetime
    expires_at: datetime | None = None  # None for indefinite
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CrossBorderAuthorisation:
    """An application for the Cross-boundary Health Record, for one Mainland institution.
    Usable from ``issued_at`` plus the processing delay in force on its issue date."""

    id: str
    person_id: str
    institution_id: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def status_at(self, now: datetime, *, ready_at: datetime, locked: bool = False) -> Standing:
        """``revoked`` from ``revoked_at``, else ``expired`` from ``expires_at``, else
        ``locked`` (the vault locks it after too many wrong passcodes), else ``pending``
        before ``ready_at`` (:meth:`Policy.cross_border_ready_at`), else ``active``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return Standing.REVOKED
        if self.expires_at <= now:
            return Standing.EXPIRED
        if locked:
            return Standing.LOCKED
        return Standing.PENDING if now < ready_at else Standing.ACTIVE


@dataclass(frozen=True, slots=True)
class ViewingSession:
    """Opened by scanning an authorisation's application code and passcode; bound to one
    professional of one institution, and ends with its authorisation (R8)."""

    id: str
    authorisation_id: str
    institution_id: str
    professional_id: str
    opened_at: datetime
    expires_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RadiologyAuthorisation:
    """The person's Authorisation QR code letting ``institution_id`` deposit radiology.
    ``used_at``: the deposit it was used for (a store may instead pass that instant as
    ``revoked_at``)."""

    id: str
    person_id: str
    institution_id: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    used_at: datetime | None = None

    def status_at(self, now: datetime) -> Standing:
        """``revoked`` from ``revoked_at``, else ``used`` from ``used_at``, else ``expired``
        from ``expires_at``, else ``active``. A deposit also needs ``issued_at <= now``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return Standing.REVOKED
        if self.used_at is not None and self.used_at <= now:
            return Standing.USED
        return Standing.EXPIRED if self.expires_at <= now else Standing.ACTIVE


@dataclass(frozen=True, slots=True)
class RestrictedAccessGrant:
    """An OTP-confirmed grant opening restricted ``categories`` to one professional.
    ``consent_id`` is the sharing consent it was obtained under (``None``: implied sharing);
    the grant ends with that consent (R8). Unconfirmed grants (``confirmed_at`` None) give
    nothing."""

    id: str
    person_id: str
    institution_id: str
    professional_id: str
    categories: frozenset[Category]
    consent_id: str | None
    confirmed_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CaregiverDelegation(_Granted):
    """``caregiver_id`` may act for ``person_id`` while active (R2)."""

    id: str
    person_id: str
    caregiver_id: str
    granted_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BreakGlassAccess:
    """One emergency access (only where the policy enables break-glass): a written
    justification, a short time box, reviewed afterwards."""

    id: str
    person_id: str
    institution_id: str
    professional_id: str
    justification_length: int  # of the stated reason, trimmed (the text stays sealed)
    started_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything :func:`policies.decide` may rely on, loaded by the caller for one subject.
    Extra facts about other people or institutions are harmless: each is checked."""

    policy: Policy
    person: Person | None = None
    sharing_consents: tuple[SharingConsent, ...] = ()
    cross_border_authorisations: tuple[CrossBorderAuthorisation, ...] = ()
    viewing_sessions: tuple[ViewingSession, ...] = ()
    radiology_authorisations: tuple[RadiologyAuthorisation, ...] = ()
    restricted_grants: tuple[RestrictedAccessGrant, ...] = ()
    delegations: tuple[CaregiverDelegation, ...] = ()
    break_glass_accesses: tuple[BreakGlassAccess, ...] = ()


# --- the answer --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Obligations:
    """What the caller must do with an allowed decision.

    The first five fields describe the visible set of records as a conjunction a store turns
    into its WHERE clause (``None`` = no restriction on that column)::

        category IN categories AND source IN sources
        AND clinical_date BETWEEN visible_since AND visible_until
        AND depositor_institution_id IN depositors

    They apply to lists *and* to single-record actions (:meth:`admits` is the same
    predicate in Python). ``notify_person``: tell the person about this view (R11).
    ``on_behalf_of``: the person a caregiver acted for, to be logged next to the caregiver
    (R2). ``review_required``: flag the audit entry for after-the-fact review (break-glass).
    """

    categories: frozenset[Category] | None = None
    sources: frozenset[Source] | None = None
    visible_since: date | None = None
    visible_until: date | None = None
    depositors: frozenset[str] | None = None
    notify_person: bool = False
    on_behalf_of: str | None = None
    review_required: bool = False

    def admits(self, record: RecordRef) -> bool:
        """Whether ``record`` lies inside the visible set."""
        return (
            (self.categories is None or record.category in self.categories)
            and (self.sources is None or record.source in self.sources)
            and (self.visible_since is None or self.visible_since <= record.clinical_date)
            and (self.visible_until is None or record.clinical_date <= self.visible_until)
            and (self.depositors is None or record.depositor_institution_id in self.depositors)
        )


NOTHING = Obligations(categories=frozenset(), sources=frozenset(), depositors=frozenset())
"""The obligations of every deny: an empty visible set, no notification."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. ``consent_id`` is the person's consent relied on (sharing consent,
    cross-border or radiology authorisation, caregiver delegation); ``grant_id`` the
    short-lived grant derived from it (restricted-access grant, viewing session,
    break-glass access). ``reason`` is for the audit log only (R10)."""

    allowed: bool
    reason: Reason
    consent_id: str | None = None
    grant_id: str | None = None
    obligations: Obligations = field(default=NOTHING)
