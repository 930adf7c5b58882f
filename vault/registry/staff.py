"""An institution's own staff and client credentials, managed by its admin client (R9:
separation of duties — no operator registers professionals or holds an institution's
credentials). Every change is decided by the policy (``MANAGE_INSTITUTION`` of the
admin's own institution only), audited on the system chain, and stamps the institution's
``credentials_changed_at`` when credentials change.

A suspended professional is refused from their next request on: the API reads the
professional on every request (no cache outlives a suspension, R8).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from policies.vocabulary import Action
from vault.access.judge import Ask, Caller
from vault.access.usecase import UseCase, denied
from vault.core.errors import NotFound
from vault.crypto.secrets import Secret
from vault.registry.institutions import (
    CLIENT,
    NewCredential,
    NewProfessional,
    add_professional,
    credentials_changed,
    store_credential,
)
from vault.store.tables import InstitutionCredential, Professional


def manage(institution_id: str, resource_id: str | None = None) -> Ask:
    return Ask(
        Action.MANAGE_INSTITUTION,
        None,
        resource_id=resource_id,
        target_institution_id=institution_id,
    )


class Staff(UseCase):
    def add_professional(
        self, caller: Caller, institution_id: str, new: NewProfessional
    ) -> Professional:
        """Register a professional of the admin's own institution."""

        def work(session: Session, now: datetime) -> Professional:
            return add_professional(session, institution_id, new, now=now)

        return self.run(caller, manage(institution_id), work, refuse=denied)

    def suspend_professional(
        self, caller: Caller, institution_id: str, professional_id: str
    ) -> None:
        """Suspend one of the institution's professionals from this instant (idempotent):
        their next request is refused, whatever token they hold."""

        def work(session: Session, now: datetime) -> None:
            row = session.get(Professional, professional_id)
            if row is None or row.institution_id != institution_id:
                raise NotFound("no such professional")
            if row.suspended_at is None:
                row.suspended_at = now
                session.add(row)

        self.run(caller, manage(institution_id, professional_id), work, refuse=denied)

    def issue_client(self, caller: Caller, institution_id: str) -> tuple[str, Secret[str]]:
        """A new client credential for the institution's professionals (shown once)."""
        new, secret = NewCredential.made(institution_id, CLIENT)  # argon2id: before the lock

        def work(session: Session, now: datetime) -> str:
            store_credential(session, new, now=now)
            return new.client_id

        client_id = self.run(caller, manage(institution_id, new.client_id), work, refuse=denied)
        return client_id, Secret(secret)

    def revoke_client(self, caller: Caller, institution_id: str, client_id: str) -> None:
        """Revoke one of the institution's client credentials from this instant."""

        def work(session: Session, now: datetime) -> None:
            row = session.get(InstitutionCredential, client_id)
            if row is None or row.institution_id != institution_id or row.kind != CLIENT:
                raise NotFound("no such credential")
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)
                credentials_changed(session, institution_id, now)

        self.run(caller, manage(institution_id, client_id), work, refuse=denied)
