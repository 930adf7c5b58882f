"""Caregiver delegations (R2): the person appoints, lists and revokes the people who may
act for them. Only the person: a caregiver can never manage caregivers (no further
delegation — the policy refuses ``MANAGE_CAREGIVERS`` to a caregiver).

Choices where the contract (docs/design.md) is silent: the caregiver must be a registered
person other than the person; ``expires_at`` (optional) must lie in the future; appointing
someone who already holds a delegation in force replaces it at the same instant (so a
person changes the expiry by appointing again, and at most one delegation per caregiver is
in force).
Revocation takes effect at once: the caregiver's next request is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from policies.vocabulary import Action
from vault.access.judge import Ask, Caller
from vault.access.usecase import Unusable, UseCase
from vault.core.errors import NotFound
from vault.core.ids import new_id
from vault.store import facts
from vault.store.tables import CaregiverDelegation, Person


@dataclass(frozen=True)
class DelegationView:
    delegation: CaregiverDelegation
    active: bool


def delegation_view(row: CaregiverDelegation, now: datetime) -> DelegationView:
    """The delegation and whether it is in force: the policy's own standing of it."""
    return DelegationView(row, facts.delegation(row).active_at(now))


class Caregivers(UseCase):
    def appoint(
        self,
        caller: Caller,
        person_id: str,
        caregiver_id: str,
        expires_at: datetime | None = None,
    ) -> DelegationView:
        delegation_id = new_id()
        ask = Ask(Action.MANAGE_CAREGIVERS, person_id, resource_id=delegation_id)

        def work(session: Session, now: datetime) -> DelegationView:
            if caregiver_id == person_id:
                raise Unusable("caregiver_is_self", "A person cannot be their own caregiver.")
            caregiver = session.get(Person, caregiver_id)
            if caregiver is None or caregiver.erased_at is not None:
                raise Unusable("unknown_caregiver", "No person has that id.")
            if expires_at is not None and expires_at <= now:
                raise Unusable("expiry_not_in_future", "expires_at must be in the future.")
            for old in self._held(session, person_id, caregiver_id):
                if delegation_view(old, now).active:
                    old.revoked_at = now
                    session.add(old)
            row = CaregiverDelegation(
                id=delegation_id,
                person_id=person_id,
                caregiver_id=caregiver_id,
                granted_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            return delegation_view(row, now)

        return self.run(caller, ask, work)

    def delegations(self, caller: Caller, person_id: str) -> list[DelegationView]:
        """Every delegation the person gave, in force or not, newest first."""

        def work(session: Session, now: datetime) -> list[DelegationView]:
            rows = session.exec(
                select(CaregiverDelegation)
                .where(CaregiverDelegation.person_id == person_id)
                .order_by(
                    col(CaregiverDelegation.granted_at).desc(), col(CaregiverDelegation.id).desc()
                )
            )
            return [delegation_view(r, now) for r in rows]

        return self.run(caller, Ask(Action.MANAGE_CAREGIVERS, person_id), work)

    def delegation(self, caller: Caller, person_id: str, delegation_id: str) -> DelegationView:
        def work(session: Session, now: datetime) -> DelegationView:
            return delegation_view(_owned(session, person_id, delegation_id), now)

        ask = Ask(Action.MANAGE_CAREGIVERS, person_id, resource_id=delegation_id)
        return self.run(caller, ask, work)

    def revoke(self, caller: Caller, person_id: str, delegation_id: str) -> None:
        """Revoke from this instant. Revoking a revoked delegation changes nothing."""

        def work(session: Session, now: datetime) -> None:
            row = _owned(session, person_id, delegation_id)
            if row.revoked_at is None:
                row.revoked_at = now
                session.add(row)

        self.run(caller, Ask(Action.MANAGE_CAREGIVERS, person_id, resource_id=delegation_id), work)

    @staticmethod
    def _held(session: Session, person_id: str, caregiver_id: str) -> list[CaregiverDelegation]:
        return list(
            session.exec(
                select(CaregiverDelegation).where(
                    CaregiverDelegation.person_id == person_id,
                    CaregiverDelegation.caregiver_id == caregiver_id,
                    col(CaregiverDelegation.revoked_at).is_(None),
                )
            )
        )


def _owned(session: Session, person_id: str, delegation_id: str) -> CaregiverDelegation:
    row = session.get(CaregiverDelegation, (person_id, delegation_id))
    if row is None or row.person_id != person_id:
        raise NotFound("no such delegation")
    return row
