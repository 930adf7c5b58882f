"""Withdrawal: a person leaves the vault (``POST /v1/me/withdraw``), or an operator erases
a person on a verified request (``crossvault persons erase ID``).

The person — or a caregiver with an active delegation, R2 — re-authenticates with their
own password first: that is a login on their account (:class:`~vault.registry.logins.Logins`:
throttled, audited, notified), checked before any write lock is taken. Then, in one
transaction, the policy decides ``WITHDRAW`` (audited on the person's chain) and:

* every consent, cross-border and radiology authorisation, delegation (given or held),
  restricted-access grant, viewing session, break-glass access and open radiology deposit
  of the person ends at that instant (R8: nothing outlives the person's say);
* the person is crypto-shredded (:func:`~vault.account.erasure.erase_person`): their data
  key destroyed, their records deleted, their blobs once the transaction commits.

Audit entries stay: identities and decisions, no health data; the chain still verifies.
The operator's erasure is audited as ``erased_on_request`` with the request's reference,
decided outside the policy (the policy never lets an operator act on a person: the
command is the deployment's own hand, run on the host).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from policies.model import Actor
from policies.vocabulary import Action, ActorKind
from vault.access.judge import Ask, Caller, Occasion
from vault.access.usecase import UseCase
from vault.account.erasure import erase_person
from vault.core.errors import NotFound
from vault.crypto.secrets import Secret
from vault.registry.logins import Login, Logins
from vault.registry.persons import authenticate_person
from vault.store import tables as db
from vault.store.radiology_tables import RadiologyDeposit
from vault.store.tables import Person

ERASED_ON_REQUEST = "erased_on_request"


class Withdrawal(UseCase):
    def withdraw(self, caller: Caller, password: Secret[str], address: str) -> int:
        """The caller's person leaves the vault; how many records went. Raises
        :class:`~vault.registry.logins.LoginRefused` (``invalid_password``) or
        ``LoginThrottled`` before anything changes, ``NotFound`` when the caller may not
        act for the person."""
        own = caller.actor.person_id or ""
        person_id = caller.acting_for or own
        login = Login(ActorKind.CITIZEN, own, address, own, refusal_code="invalid_password")
        engine = self.vault.engine
        Logins(self.judge).attempt(
            login, lambda: authenticate_person(engine, own, password.reveal())
        )
        return self.run(
            caller,
            Ask(Action.WITHDRAW, person_id, resource_id=person_id),
            lambda session, now: self._leave(session, person_id, now),
        )

    def erase_on_request(self, person_id: str, reference: str) -> int:
        """The operator's erasure on a verified request (``reference``: its ticket)."""
        operator = Caller(Actor(ActorKind.OPERATOR), client_id="crossvault-cli")
        ask = Ask(Action.WITHDRAW, person_id, resource_id=reference[:80])

        def erase(session: Session, now: datetime) -> int | NotFound:
            person = session.get(Person, person_id)
            if person is None or person.erased_at is not None:
                return NotFound("no such person")
            self.judge.record_event(
                session, Occasion(operator, ask, now), ERASED_ON_REQUEST, allowed=True
            )
            return self._leave(session, person_id, now)

        return self.transact(erase, chain=person_id)

    def _leave(self, session: Session, person_id: str, now: datetime) -> int:
        _end_everything(session, person_id, now)
        return erase_person(session, self.vault.keys, self.vault.blobs, person_id, now=now)


def _end_everything(session: Session, person_id: str, now: datetime) -> None:
    """Every grant of the person (and every delegation they hold for others) ends now."""
    for table in (
        db.SharingConsent,
        db.CrossBorderAuthorisation,
        db.RadiologyAuthorisation,
        db.CaregiverDelegation,
    ):
        _set(session, table, col(table.person_id) == person_id, revoked_at=now)
    held = col(db.CaregiverDelegation.caregiver_id) == person_id
    _set(session, db.CaregiverDelegation, held, revoked_at=now)
    for ending in (
        db.ViewingSession,
        db.RestrictedAccessRequest,
        db.BreakGlassAccess,
        RadiologyDeposit,
    ):
        _set(session, ending, col(ending.person_id) == person_id, expires_at=now, running=now)


def _set(
    session: Session, table: Any, where: Any, *, running: datetime | None = None, **values: Any
) -> None:
    """``UPDATE table SET values WHERE where`` — for a column that ends (``expires_at``)
    only rows still running at ``running``; for ``revoked_at`` only rows not yet revoked."""
    (column,) = values
    current = getattr(table, column)
    still = (
        col(current).is_(None)
        if running is None
        else col(current).is_(None) | (col(current) > running)
    )
    session.exec(update(table).where(where, still).values(**values))
