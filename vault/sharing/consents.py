"""Sharing consents (R3): a person (or their caregiver, R2) lets a Hong Kong institution's
professionals view their records — given, listed, renewed, switched and revoked, each
through the one use-case skeleton (:class:`~vault.access.usecase.UseCase`).

Choices where the contract is silent:

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
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from policies.vocabulary import Action, ConsentKind, Source, Standing
from vault.access.codes import owned, owned_or_missing
from vault.access.judge import Ask, Caller
from vault.access.usecase import Conflict, UseCase
from vault.core.ids import new_id
from vault.store import facts
from vault.store.tables import SharingConsent


@dataclass(frozen=True)
class SharingConsentView:
    consent: SharingConsent
    active: bool

    @property
    def scopes(self) -> list[str]:
        return [s for s in self.consent.scopes.split(",") if s]


def sharing_view(row: SharingConsent, now: datetime) -> SharingConsentView:
    """The consent and whether it is in force: the policy's own standing of it."""
    return SharingConsentView(row, facts.sharing_consent(row).active_at(now))


@dataclass(frozen=True)
class Terms:
    """A consent's terms, which never change once given (a renewal is a new consent)."""

    consent_id: str
    person_id: str
    institution_id: str
    kind: ConsentKind
    scopes_csv: str

    @classmethod
    def of(cls, row: SharingConsent, consent_id: str, kind: ConsentKind) -> Terms:
        """The terms of ``row`` again, under a new id and ``kind``."""
        return cls(consent_id, row.person_id, row.institution_id, kind, row.scopes)


def _scopes_csv(scopes: Collection[str]) -> str:
    order = list(Source)
    return ",".join(str(s) for s in sorted(set(map(Source, scopes)), key=order.index))


class SharingConsents(UseCase):
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
            terms = Terms(consent_id, person_id, institution_id, kind, csv)
            return sharing_view(self._give(session, caller, terms, now), now)

        return self.run(caller, ask, work)

    def renew_sharing_consent(
        self, caller: Caller, person_id: str, consent_id: str
    ) -> SharingConsentView:
        """A new ``one_year`` consent on the same terms from now; the old one ends."""
        renewed_id = new_id()

        def work(session: Session, now: datetime) -> SharingConsentView:
            row = self._sharing_row(session, person_id, consent_id)
            if row.revoked_at is not None and row.revoked_at <= now:
                raise Conflict("consent_revoked", "A revoked consent cannot be renewed.")
            if row.kind == ConsentKind.INDEFINITE:
                raise Conflict("consent_indefinite", "An indefinite consent never expires.")
            terms = Terms.of(row, renewed_id, ConsentKind(row.kind))
            return sharing_view(self._give(session, caller, terms, now), now)

        return self.run(caller, self._regrant_ask(person_id, consent_id), work)

    def switch_sharing_consent(
        self, caller: Caller, person_id: str, consent_id: str, kind: ConsentKind
    ) -> SharingConsentView:
        """Switch a consent in force between ``one_year`` and ``indefinite``."""
        switched_id = new_id()

        def work(session: Session, now: datetime) -> SharingConsentView:
            row = self._sharing_row(session, person_id, consent_id)
            if not sharing_view(row, now).active:
                raise Conflict(
                    "consent_not_active",
                    "Only a consent in force can be switched; give a new one instead.",
                )
            if row.kind == kind:
                return sharing_view(row, now)
            terms = Terms.of(row, switched_id, kind)
            return sharing_view(self._give(session, caller, terms, now), now)

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
        self, session: Session, caller: Caller, terms: Terms, now: datetime
    ) -> SharingConsent:
        """Give a consent on ``terms`` now, revoking at the same instant any the
        institution holds (one in force per institution)."""
        held = session.exec(
            select(SharingConsent).where(
                SharingConsent.person_id == terms.person_id,
                SharingConsent.institution_id == terms.institution_id,
                col(SharingConsent.revoked_at).is_(None),
            )
        )
        for old in held:
            if facts.sharing_consent(old).status_at(now) in (Standing.ACTIVE, Standing.NOT_YET):
                old.revoked_at = now
                session.add(old)
        row = SharingConsent(
            id=terms.consent_id,
            person_id=terms.person_id,
            institution_id=terms.institution_id,
            kind=str(terms.kind),
            scopes=terms.scopes_csv,
            granted_at=now,
            expires_at=self.policy.sharing_consent_expires_at(terms.kind, now),
            granted_by=caller.actor_id,
        )
        session.add(row)
        session.flush()
        return row

    def _regrant_ask(self, person_id: str, consent_id: str) -> Callable[[Session], Ask]:
        """Renewing or switching gives a consent again: the policy judges it as a grant to
        the consent's institution (an id that is not the person's: just "manage")."""

        def ask(session: Session) -> Ask:
            row = owned(session, SharingConsent, person_id, consent_id)
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
        return owned_or_missing(session, SharingConsent, person_id, consent_id)
