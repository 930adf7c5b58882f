"""Radiology authorisations (R5): the "Authorisation QR code" a person (or caregiver)
obtains before a visit, letting one designated radiology depositor file that visit's
study into the Personal Folder (:mod:`vault.radiology.deposits`); listed, revoked, and
shown again as a QR code while usable (:mod:`vault.access.codes`). The code is 24
characters of a 32-letter alphabet (120 bits): a single code, as strong as a passcode.
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
from vault.store.tables import RadiologyAuthorisation

RADIOLOGY_CODE_LENGTH = 24  # 120 bits

RadiologyStatus = Literal["active", "used", "expired", "revoked"]


@dataclass(frozen=True)
class RadiologyView:
    authorisation: RadiologyAuthorisation
    status: RadiologyStatus


@dataclass(frozen=True)
class IssuedRadiology:
    view: RadiologyView
    code: Secret[str]


def radiology_view(row: RadiologyAuthorisation, now: datetime) -> RadiologyView:
    """The authorisation and where it stands: the policy's own standing of it."""
    standing = facts.radiology_authorisation(row).status_at(now)
    return RadiologyView(row, cast(RadiologyStatus, str(standing)))


class RadiologyAuthorisations(UseCase):
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
                code_sealed=seal_code(key, CodeKind.RADIOLOGY, person_id, authorisation_id, code),
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

        return self.run(caller, _manage(person_id), work)

    def radiology_authorisation(
        self, caller: Caller, person_id: str, authorisation_id: str
    ) -> RadiologyView:
        def work(session: Session, now: datetime) -> RadiologyView:
            row = owned_or_missing(session, RadiologyAuthorisation, person_id, authorisation_id)
            return radiology_view(row, now)

        return self.run(caller, _manage(person_id, authorisation_id), work)

    def revoke_radiology(self, caller: Caller, person_id: str, authorisation_id: str) -> None:
        def work(session: Session, now: datetime) -> None:
            row = owned_or_missing(session, RadiologyAuthorisation, person_id, authorisation_id)
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)

        self.run(caller, _manage(person_id, authorisation_id), work)

    def radiology_code(self, caller: Caller, person_id: str, authorisation_id: str) -> Secret[str]:
        """The code again (for its QR code) while it is usable: not revoked, used or
        expired; otherwise ``NotFound``."""

        def work(session: Session, now: datetime) -> Secret[str]:
            row = owned_or_missing(session, RadiologyAuthorisation, person_id, authorisation_id)
            if row.code_sealed is None or radiology_view(row, now).status != "active":
                raise NotFound("no such code")
            return open_code(session, self.vault.keys, CodeKind.RADIOLOGY, row, row.code_sealed)

        return self.run(caller, _manage(person_id, authorisation_id), work)


def _manage(person_id: str, resource_id: str | None = None) -> Ask:
    return Ask(Action.MANAGE_CONSENTS, person_id, resource_id=resource_id)
