"""The person's consents: sharing consents (R3), cross-border authorisations (R4) and
radiology authorisations (R5) — given, listed, renewed, switched and revoked by the person
or their caregiver (R2), each through the policy (:class:`~vault.account.profile.AccountUseCase`).

Choices where DESIGN is silent:

* **A consent's terms never change once given.** Audit entries name the consent a view
  relied on, so that consent must keep meaning what it meant. Renewing or switching a
  sharing consent therefore *replaces* it in one transaction: the old one is revoked and a
  new one (new id) is given at the same instant — no gap, no overlap. Restricted-access
  grants obtained under the old consent end with it (R8).
* **One sharing consent per institution is in force.** Giving a consent to an institution
  that already holds one replaces it the same way (that is how scopes are changed).
* **HA and DH** hold implied sharing consent for the eHR from joining. An explicit consent
  to them is accepted: it is the only way to open the Personal Folder to them, and revoking
  it never removes the implied eHR sharing.
* **Renewal** restarts a ``one_year`` consent's year from now; it is allowed while the
  consent is in force or after it expired, not after it was revoked, and never for an
  ``indefinite`` one (nothing to renew). **Switching** needs a consent in force; switching
  to the kind it already has changes nothing.
* **Codes** (application code, passcode, radiology authorisation code) are shown in the
  create response and stored as SHA-256 hashes for look-up, and *also* sealed with the
  person's data key (AAD-bound to person, row and kind), so that only the person — or
  their caregiver — can fetch them again as QR codes while the authorisation is usable.
  Erasing the person destroys them with the key. Entropy: application code 16 characters
  of a 32-letter alphabet (80 bits), passcode and radiology code 24 (120 bits).
* Several cross-border applications (and radiology authorisations) may be in force at
  once, even for one institution: each visit may have its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from sqlmodel import Session, col, select

from policies.vocabulary import Action, ConsentKind, Source
from vault.access.judge import Ask, Caller
from vault.account.profile import AccountConflict, AccountUseCase
from vault.core.errors import NotFound
from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.aad import CodeKind
from vault.crypto.envelope import SealingKey
from vault.crypto.passwords import code_hash, new_code
from vault.crypto.secrets import Secret
from vault.store.tables import CrossBorderAuthorisation, RadiologyAuthorisation, SharingConsent

APPLICATION_CODE_LENGTH = 16  # x 5 bits = 80 bits
PASSCODE_LENGTH = 24  # 120 bits
RADIOLOGY_CODE_LENGTH = 24  # 120 bits: a single code, so as strong as the pair's passcode


CrossBorderStatus = Literal["pending", "active", "locked", "expired", "revoked"]
RadiologyStatus = Literal["active", "used", "expired", "revoked"]


_USABLE: frozenset[CrossBorderStatus] = frozenset({"pending", "active"})


def _in_force(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    return (revoked_at is None or now < revoked_at) and (expires_at is None or now < expires_at)


# --- views -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharingConsentView:
    consent: SharingConsent
    active: bool

    @property
    def scopes(self) -> list[str]:
        return [s for s in self.consent.scopes.split(",") if s]


@dataclass(frozen=True)
class CrossBorderView:
    authorisation: CrossBorderAuthorisation
    status: CrossBorderStatus


@dataclass(frozen=True)
class IssuedCrossBorder:
    view: CrossBorderView
    application_code: Secret[str]
    passcode: Secret[str]


@dataclass(frozen=True)
class RadiologyView:
    authorisation: RadiologyAuthorisation
    status: RadiologyStatus


@dataclass(frozen=True)
class IssuedRadiology:
    view: RadiologyView
    code: Secret[str]


def sharing_view(row: SharingConsent, now: datetime) -> SharingConsentView:
    active = row.granted_at <= now and _in_force(row.revoked_at, row.expires_at, now)
    return SharingConsentView(row, active)


def cross_border_view(row: CrossBorderAuthorisation, now: datetime) -> CrossBorderView:
    status: CrossBorderStatus
    if row.revoked_at is not None and row.revoked_at <= now:
        status = "revoked"
    elif row.expires_at <= now:
        status = "expired"
    elif row.locked_at is not None:
        status = "locked"
    elif now < row.usable_from:
        status = "pending"
    else:
        status = "active"
    return CrossBorderView(row, status)


def radiology_view(row: RadiologyAuthorisation, now: datetime) -> RadiologyView:
    status: RadiologyStatus
    if row.revoked_at is not None and row.revoked_at <= now:
        status = "revoked"
    elif row.used_at is not None:
        status = "used"
    elif row.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return RadiologyView(row, status)


def _scopes_csv(scopes: Collection[str]) -> str:
    order = list(Source)
    return ",".join(str(s) for s in sorted(set(map(Source, scopes)), key=order.index))


# --- the use-cases -----------------------------------------------------------------------


class Consents(AccountUseCase):
    # --- sharing consents (R3) -----------------------------------------------------------

    def give_sharing_consent(
        self,
        caller: Caller,
        person_id: str,
        institution_id: str,
        kind: ConsentKind,
        scopes: Collection[str],
    ) -> SharingConsentView:
        """Give ``institution_id`` sharing consent (replacing any it holds)."""
        consent_id = new_id()
        ask = Ask(
            Action.GRANT_SHARING_CONSENT,
            person_id,
            resource_id=consent_id,
            target_institution_id=institution_id,
        )
        csv = _scopes_csv(scopes)

        def work(session: Session, now: datetime) -> SharingConsentView:
            row = self._give(session, now, caller, person_id, consent_id, institution_id, kind, csv)
            return sharing_view(row, now)

        return self.run(caller, ask, work)

    def renew_sharing_consent(
        self, caller: Caller, person_id: str, consent_id: str
    ) -> SharingConsentView:
        """A new ``one_year`` consent on the same terms from now; the old one ends."""
        renewed_id = new_id()

        def work(session: Session, now: datetime) -> SharingConsentView:
            row = self._sharing_row(session, person_id, consent_id)
            if row.revoked_at is not None and row.revoked_at <= now:
                raise AccountConflict("consent_revoked", "A revoked consent cannot be renewed.")
            if row.kind == ConsentKind.INDEFINITE:
                raise AccountConflict("consent_indefinite", "An indefinite consent never expires.")
            new = self._give(
                session,
                now,
                caller,
                person_id,
                renewed_id,
                row.institution_id,
                ConsentKind(row.kind),
                row.scopes,
            )
            return sharing_view(new, now)

        return self.run(caller, self._regrant_ask(person_id, consent_id), work)

    def switch_sharing_consent(
        self, caller: Caller, person_id: str, consent_id: str, kind: ConsentKind
    ) -> SharingConsentView:
        """Switch a consent in force between ``one_year`` and ``indefinite``."""
        switched_id = new_id()

        def work(session: Session, now: datetime) -> SharingConsentView:
            row = self._sharing_row(session, person_id, consent_id)
            if not sharing_view(row, now).active:
                raise AccountConflict(
                    "consent_not_active",
                    "Only a consent in force can be switched; give a new one instead.",
                )
            if row.kind == kind:
                return sharing_view(row, now)
            new = self._give(
                session, now, caller, person_id, switched_id, row.institution_id, kind, row.scopes
            )
            return sharing_view(new, now)

        return self.run(caller, self._regrant_ask(person_id, consent_id), work)

    def revoke_sharing_consent(self, caller: Caller, person_id: str, consent_id: str) -> None:
        """Revoke from this instant (R8). Revoking a revoked consent changes nothing."""

        def work(session: Session, now: datetime) -> None:
            row = self._sharing_row(session, person_id, consent_id)
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)

        self.run(caller, self._manage(person_id, consent_id), work)

    def sharing_consents(self, caller: Caller, person_id: str) -> list[SharingConsentView]:
        """Every sharing consent the person gave, in force or not, newest first."""

        def work(session: Session, now: datetime) -> list[SharingConsentView]:
            rows = session.exec(
                select(SharingConsent)
                .where(SharingConsent.person_id == person_id)
                .order_by(col(SharingConsent.granted_at).desc(), col(SharingConsent.id).desc())
            )
            return [sharing_view(r, now) for r in rows]

        return self.run(caller, self._manage(person_id), work)

    def sharing_consent(
        self, caller: Caller, person_id: str, consent_id: str
    ) -> SharingConsentView:
        def work(session: Session, now: datetime) -> SharingConsentView:
            return sharing_view(self._sharing_row(session, person_id, consent_id), now)

        return self.run(caller, self._manage(person_id, consent_id), work)

    def _give(
        self,
        session: Session,
        now: datetime,
        caller: Caller,
        person_id: str,
        consent_id: str,
        institution_id: str,
        kind: ConsentKind,
        scopes_csv: str,
    ) -> SharingConsent:
        held = session.exec(
            select(SharingConsent).where(
                SharingConsent.person_id == person_id,
                SharingConsent.institution_id == institution_id,
                col(SharingConsent.revoked_at).is_(None),
            )
        )
        for old in held:
            if _in_force(old.revoked_at, old.expires_at, now):
                old.revoked_at = now
                session.add(old)
        row = SharingConsent(
            id=consent_id,
            person_id=person_id,
            institution_id=institution_id,
            kind=str(kind),
            scopes=scopes_csv,
            granted_at=now,
            expires_at=self.policy.sharing_consent_expires_at(kind, now),
            granted_by=caller.actor_id,
        )
        session.add(row)
        session.flush()
        return row

    def _regrant_ask(self, person_id: str, consent_id: str) -> Callable[[Session], Ask]:
        """Renewing or switching gives a consent again: the policy judges it as a grant to
        the consent's institution (an id that is not the person's: just "manage")."""

        def ask(session: Session) -> Ask:
            row = _owned(session, SharingConsent, person_id, consent_id)
            if row is None:
                return self._manage(person_id, consent_id)
            return Ask(
                Action.GRANT_SHARING_CONSENT,
                person_id,
                resource_id=consent_id,
                target_institution_id=row.institution_id,
            )

        return ask

    @staticmethod
    def _manage(person_id: str, resource_id: str | None = None) -> Ask:
        return Ask(Action.MANAGE_CONSENTS, person_id, resource_id=resource_id)

    @staticmethod
    def _sharing_row(session: Session, person_id: str, consent_id: str) -> SharingConsent:
        row = _owned(session, SharingConsent, person_id, consent_id)
        if row is None:
            raise NotFound("no such consent")
        return row

    # --- cross-border authorisations (R4) ------------------------------------------------

    def apply_cross_border(
        self, caller: Caller, person_id: str, institution_id: str
    ) -> IssuedCrossBorder:
        """Apply for the Cross-boundary Health Record at one Mainland institution; the
        codes are returned here, once (and sealed for the person's QR codes)."""
        authorisation_id = new_id()
        ask = Ask(
            Action.APPLY_CROSS_BORDER,
            person_id,
            resource_id=authorisation_id,
            target_institution_id=institution_id,
        )

        def work(session: Session, now: datetime) -> IssuedCrossBorder:
            application_code = new_code("CB", APPLICATION_CODE_LENGTH)
            passcode = new_code("PC", PASSCODE_LENGTH)
            key = self.vault.keys.get(session, person_id)
            row = CrossBorderAuthorisation(
                id=authorisation_id,
                person_id=person_id,
                institution_id=institution_id,
                application_code_hash=code_hash(application_code),
                passcode_hash=code_hash(passcode),
                issued_at=now,
                usable_from=self.policy.cross_border_ready_at(now),
                expires_at=self.policy.cross_border_expires_at(now),
                granted_by=caller.actor_id,
                application_code_sealed=_seal(
                    key, CodeKind.APPLICATION, person_id, authorisation_id, application_code
                ),
                passcode_sealed=_seal(
                    key, CodeKind.PASSCODE, person_id, authorisation_id, passcode
                ),
            )
            session.add(row)
            session.flush()
            return IssuedCrossBorder(
                cross_border_view(row, now), Secret(application_code), Secret(passcode)
            )

        return self.run(caller, ask, work)

    def cross_border_authorisations(self, caller: Caller, person_id: str) -> list[CrossBorderView]:
        def work(session: Session, now: datetime) -> list[CrossBorderView]:
            table = CrossBorderAuthorisation
            rows = session.exec(
                select(table)
                .where(table.person_id == person_id)
                .order_by(col(table.issued_at).desc(), col(table.id).desc())
            )
            return [cross_border_view(r, now) for r in rows]

        return self.run(caller, self._manage(person_id), work)

    def cross_border_authorisation(
        self, caller: Caller, person_id: str, authorisation_id: str
    ) -> CrossBorderView:
        def work(session: Session, now: datetime) -> CrossBorderView:
            row = _owned_or_missing(session, CrossBorderAuthorisation, person_id, authorisation_id)
            return cross_border_view(row, now)

        return self.run(caller, self._manage(person_id, authorisation_id), work)

    def revoke_cross_border(self, caller: Caller, person_id: str, authorisation_id: str) -> None:
        """Revoke from this instant; viewing sessions opened with it end with it (R8)."""

        def work(session: Session, now: datetime) -> None:
            row = _owned_or_missing(session, CrossBorderAuthorisation, person_id, authorisation_id)
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)

        self.run(caller, self._manage(person_id, authorisation_id), work)

    def cross_border_code(
        self, caller: Caller, person_id: str, authorisation_id: str, kind: CodeKind
    ) -> Secret[str]:
        """One of the two codes again (for its QR code) while they can still be used —
        not once the authorisation is revoked, expired or locked: ``NotFound``."""
        if kind is CodeKind.RADIOLOGY:
            raise ValueError("a cross-border authorisation has an application code and a passcode")

        def work(session: Session, now: datetime) -> Secret[str]:
            row = _owned_or_missing(session, CrossBorderAuthorisation, person_id, authorisation_id)
            sealed = (
                row.application_code_sealed if kind is CodeKind.APPLICATION else row.passcode_sealed
            )
            if sealed is None or cross_border_view(row, now).status not in _USABLE:
                raise NotFound("no such code")
            return self._open(session, kind, row.person_id, row.id, sealed)

        return self.run(caller, self._manage(person_id, authorisation_id), work)

    # --- radiology authorisations (R5) ---------------------------------------------------

    def grant_radiology(
        self, caller: Caller, person_id: str, institution_id: str
    ) -> IssuedRadiology:
        """The Authorisation QR code letting a radiology depositor file one visit's study."""
        authorisation_id = new_id()
        ask = Ask(
            Action.GRANT_RADIOLOGY_AUTHORISATION,
            person_id,
            resource_id=authorisation_id,
            target_institution_id=institution_id,
        )

        def work(session: Session, now: datetime) -> IssuedRadiology:
            code = new_code("RA", RADIOLOGY_CODE_LENGTH)
            key = self.vault.keys.get(session, person_id)
            row = RadiologyAuthorisation(
                id=authorisation_id,
                person_id=person_id,
                institution_id=institution_id,
                code_hash=code_hash(code),
                issued_at=now,
                expires_at=self.policy.radiology_authorisation_expires_at(now),
                granted_by=caller.actor_id,
                code_sealed=_seal(key, CodeKind.RADIOLOGY, person_id, authorisation_id, code),
            )
            session.add(row)
            session.flush()
            return IssuedRadiology(radiology_view(row, now), Secret(code))

        return self.run(caller, ask, work)

    def radiology_authorisations(self, caller: Caller, person_id: str) -> list[RadiologyView]:
        def work(session: Session, now: datetime) -> list[RadiologyView]:
            table = RadiologyAuthorisation
            rows = session.exec(
                select(table)
                .where(table.person_id == person_id)
                .order_by(col(table.issued_at).desc(), col(table.id).desc())
            )
            return [radiology_view(r, now) for r in rows]

        return self.run(caller, self._manage(person_id), work)

    def radiology_authorisation(
        self, caller: Caller, person_id: str, authorisation_id: str
    ) -> RadiologyView:
        def work(session: Session, now: datetime) -> RadiologyView:
            row = _owned_or_missing(session, RadiologyAuthorisation, person_id, authorisation_id)
            return radiology_view(row, now)

        return self.run(caller, self._manage(person_id, authorisation_id), work)

    def revoke_radiology(self, caller: Caller, person_id: str, authorisation_id: str) -> None:
        def work(session: Session, now: datetime) -> None:
            row = _owned_or_missing(session, RadiologyAuthorisation, person_id, authorisation_id)
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)

        self.run(caller, self._manage(person_id, authorisation_id), work)

    def radiology_code(self, caller: Caller, person_id: str, authorisation_id: str) -> Secret[str]:
        """The code again (for its QR code) while it is usable: not revoked, used or
        expired; otherwise ``NotFound``."""

        def work(session: Session, now: datetime) -> Secret[str]:
            row = _owned_or_missing(session, RadiologyAuthorisation, person_id, authorisation_id)
            if row.code_sealed is None or radiology_view(row, now).status != "active":
                raise NotFound("no such code")
            return self._open(session, CodeKind.RADIOLOGY, row.person_id, row.id, row.code_sealed)

        return self.run(caller, self._manage(person_id, authorisation_id), work)

    def _open(
        self, session: Session, kind: CodeKind, person_id: str, authorisation_id: str, sealed: bytes
    ) -> Secret[str]:
        key = self.vault.keys.get(session, person_id)
        return Secret(key.open(sealed, aad=aad.code(kind, person_id, authorisation_id)).decode())


# --- helpers -----------------------------------------------------------------------------

_R = TypeVar("_R", SharingConsent, CrossBorderAuthorisation, RadiologyAuthorisation)


def _owned(session: Session, table: type[_R], person_id: str, ident: str) -> _R | None:
    """The row ``ident`` if it is the person's: another person's id is simply missing."""
    row = session.get(table, ident)
    return row if row is not None and row.person_id == person_id else None


def _owned_or_missing(session: Session, table: type[_R], person_id: str, ident: str) -> _R:
    row = _owned(session, table, person_id, ident)
    if row is None:
        raise NotFound("no such authorisation")
    return row


def _seal(
    key: SealingKey, kind: CodeKind, person_id: str, authorisation_id: str, code: str
) -> bytes:
    return key.seal(code.encode(), aad=aad.code(kind, person_id, authorisation_id))
