"""Cross-border authorisations (R4): a person (or their caregiver) applies for the
Cross-boundary Health Record at one designated Mainland institution and is given two
codes — an application code and a passcode — that the institution's staff scan to open a
viewing session (:mod:`vault.cross_border.sessions`); listed, revoked, and shown again as
QR codes while usable (:mod:`vault.access.codes`).

Choices where the contract is silent: several applications may be in force at once, even
for one institution (each visit may have its own). Entropy: the application code is 16
characters of a 32-letter alphabet (80 bits), the passcode 24 (120 bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlmodel import Session, col, select

from policies.vocabulary import Action
from vault.access.codes import open_code, owned_or_missing, seal_code
from vault.access.judge import Ask, Caller
from vault.access.usecase import UseCase
from vault.core.errors import NotFound
from vault.core.ids import new_id
from vault.crypto.aad import CodeKind
from vault.crypto.passwords import code_hash, new_code
from vault.crypto.secrets import Secret
from vault.store import facts
from vault.store.tables import CrossBorderAuthorisation

APPLICATION_CODE_LENGTH = 16  # x 5 bits = 80 bits
PASSCODE_LENGTH = 24  # 120 bits

CrossBorderStatus = Literal["pending", "active", "locked", "expired", "revoked"]
_USABLE: frozenset[CrossBorderStatus] = frozenset({"pending", "active"})


@dataclass(frozen=True)
class CrossBorderView:
    authorisation: CrossBorderAuthorisation
    status: CrossBorderStatus


@dataclass(frozen=True)
class IssuedCrossBorder:
    view: CrossBorderView
    application_code: Secret[str]
    passcode: Secret[str]


def cross_border_view(row: CrossBorderAuthorisation, now: datetime) -> CrossBorderView:
    """The authorisation and where it stands: the policy's own standing of it (its
    processing delay ends at ``usable_from``, stamped from the policy when issued)."""
    standing = facts.cross_border_authorisation(row).status_at(
        now, ready_at=row.usable_from, locked=row.locked_at is not None
    )
    return CrossBorderView(row, cast(CrossBorderStatus, str(standing)))


class CrossBorderAuthorisations(UseCase):
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
                application_code_sealed=seal_code(
                    key, CodeKind.APPLICATION, person_id, authorisation_id, application_code
                ),
                passcode_sealed=seal_code(
                    key, CodeKind.PASSCODE, person_id, authorisation_id, passcode
                ),
            )
            session.add(row)
            session.flush()
            return IssuedCrossBorder(
                cross_border_view(row, now), Secret(application_code), Secret(passcode)
            )

        # no savepoint: the work's one write is its last step (see Records.deposit)
        return self.run(caller, ask, work, savepoint=False)

    def cross_border_authorisations(self, caller: Caller, person_id: str) -> list[CrossBorderView]:
        def work(session: Session, now: datetime) -> list[CrossBorderView]:
            table = CrossBorderAuthorisation
            rows = session.exec(
                select(table)
                .where(table.person_id == person_id)
                .order_by(col(table.issued_at).desc(), col(table.id).desc())
            )
            return [cross_border_view(r, now) for r in rows]

        return self.run(caller, _manage(person_id), work)

    def cross_border_authorisation(
        self, caller: Caller, person_id: str, authorisation_id: str
    ) -> CrossBorderView:
        def work(session: Session, now: datetime) -> CrossBorderView:
            row = owned_or_missing(session, CrossBorderAuthorisation, person_id, authorisation_id)
            return cross_border_view(row, now)

        return self.run(caller, _manage(person_id, authorisation_id), work)

    def revoke_cross_border(self, caller: Caller, person_id: str, authorisation_id: str) -> None:
        """Revoke from this instant; viewing sessions opened with it end with it (R8)."""

        def work(session: Session, now: datetime) -> None:
            row = owned_or_missing(session, CrossBorderAuthorisation, person_id, authorisation_id)
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)

        self.run(caller, _manage(person_id, authorisation_id), work)

    def cross_border_code(
        self, caller: Caller, person_id: str, authorisation_id: str, kind: CodeKind
    ) -> Secret[str]:
        """One of the two codes again (for its QR code) while they can still be used —
        not once the authorisation is revoked, expired or locked: ``NotFound``."""
        if kind is CodeKind.RADIOLOGY:
            raise ValueError("a cross-border authorisation has an application code and a passcode")

        def work(session: Session, now: datetime) -> Secret[str]:
            row = owned_or_missing(session, CrossBorderAuthorisation, person_id, authorisation_id)
            sealed = (
                row.application_code_sealed if kind is CodeKind.APPLICATION else row.passcode_sealed
            )
            if sealed is None or cross_border_view(row, now).status not in _USABLE:
                raise NotFound("no such code")
            return open_code(session, self.vault.keys, kind, row, sealed)

        return self.run(caller, _manage(person_id, authorisation_id), work)


def _manage(person_id: str, resource_id: str | None = None) -> Ask:
    return Ask(Action.MANAGE_CONSENTS, person_id, resource_id=resource_id)
