"""An institution's admin credential, given by two operators (R9: four eyes).

One operator **proposes** (``propose``): the proposal is pending, visible to every operator
(``proposals``) and expires after :data:`PROPOSAL_LIFETIME`. A *different* operator
**approves** it before then (``approve``): the institution's admin credential is made —
its secret shown once, to the approving operator, to hand to the institution — any
earlier admin credential of the institution is revoked at the same instant, and the
institution's ``credentials_changed_at`` (public) moves. Both steps, and every refusal, are
audited on the system chain. So no single operator identity can give itself an
institution's admin credential, and with it the power to register a professional and read
(the admin itself reads no person's data: :mod:`vault.registry.staff`).

Choices where the contract is silent: a proposal approved, withdrawn or expired is final;
at most one proposal per institution is pending; the proposer may withdraw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlmodel import Session, col, select

from policies.vocabulary import Action
from vault.access.judge import Ask, Caller
from vault.access.usecase import Conflict, Unusable, UseCase
from vault.core.errors import Denied, NotFound
from vault.core.ids import new_id
from vault.crypto.secrets import Secret
from vault.registry.institutions import ADMIN, NewCredential, store_credential
from vault.store.engine import reading
from vault.store.tables import CredentialProposal, Institution

PROPOSAL_LIFETIME = timedelta(hours=24)
ProposalState = Literal["pending", "approved", "withdrawn", "expired"]


class FourEyes(Denied):
    """The operator who proposed a change may not approve it."""

    code = "four_eyes_required"

    def __init__(self) -> None:
        super().__init__("approve a proposal of another operator")


@dataclass(frozen=True)
class ProposalView:
    proposal: CredentialProposal
    state: ProposalState


@dataclass(frozen=True)
class IssuedAdmin:
    view: ProposalView
    client_id: str
    client_secret: Secret[str]


def proposal_view(row: CredentialProposal, now: datetime) -> ProposalView:
    if row.state == "pending" and row.expires_at <= now:
        return ProposalView(row, "expired")
    return ProposalView(row, cast(ProposalState, row.state))


def _registry(resource_id: str | None = None, institution_id: str | None = None) -> Ask:
    return Ask(
        Action.MANAGE_REGISTRY, None, resource_id=resource_id, target_institution_id=institution_id
    )


class Onboarding(UseCase):
    def propose(self, caller: Caller, institution_id: str) -> ProposalView:
        """Propose the institution's (first or next) admin credential."""
        proposal_id = new_id()

        def work(session: Session, now: datetime) -> ProposalView:
            if session.get(Institution, institution_id) is None:
                raise Unusable("unknown_institution", "No institution has that id.")
            if _pending(session, institution_id, now):
                raise Conflict(
                    "proposal_pending", "A proposal for this institution is already pending."
                )
            row = CredentialProposal(
                id=proposal_id,
                institution_id=institution_id,
                proposed_by=caller.actor_id,
                proposed_at=now,
                expires_at=now + PROPOSAL_LIFETIME,
            )
            session.add(row)
            session.flush()
            return proposal_view(row, now)

        return self.run(caller, _registry(proposal_id, institution_id), work)

    def approve(self, caller: Caller, proposal_id: str) -> IssuedAdmin:
        """Approve another operator's pending proposal: the admin credential, shown once."""

        def institution_of(session: Session) -> Ask:
            row = session.get(CredentialProposal, proposal_id)
            return _registry(proposal_id, row.institution_id if row is not None else None)

        # The credential's argon2id hash is made before the write lock is taken.
        named = _institution_named(self, proposal_id)
        made = NewCredential.made(named, ADMIN) if named is not None else None

        def work(session: Session, now: datetime) -> IssuedAdmin:
            row = _decidable(session, caller, proposal_id, now)
            new, secret = made or NewCredential.made(row.institution_id, ADMIN)
            store_credential(session, new, now=now)
            row.state, row.decided_by, row.decided_at = "approved", caller.actor_id, now
            session.add(row)
            return IssuedAdmin(proposal_view(row, now), new.client_id, Secret(secret))

        return self.run(caller, institution_of, work)

    def withdraw(self, caller: Caller, proposal_id: str) -> ProposalView:
        """The proposer withdraws their pending proposal."""

        def work(session: Session, now: datetime) -> ProposalView:
            row = _pending_row(session, proposal_id, now)
            if row.proposed_by != caller.actor_id:
                raise Denied("withdraw a proposal of another operator")
            row.state, row.decided_by, row.decided_at = "withdrawn", caller.actor_id, now
            session.add(row)
            return proposal_view(row, now)

        return self.run(caller, _registry(proposal_id), work)

    def proposals(self, caller: Caller) -> list[ProposalView]:
        """Every proposal, newest first, with its state (expired ones included)."""

        def work(session: Session, now: datetime) -> list[ProposalView]:
            rows = session.exec(
                select(CredentialProposal).order_by(
                    col(CredentialProposal.proposed_at).desc(), col(CredentialProposal.id)
                )
            )
            return [proposal_view(r, now) for r in rows]

        return self.run(caller, _registry(), work)


def _institution_named(onboarding: Onboarding, proposal_id: str) -> str | None:
    """The institution a proposal names (a proposal's institution never changes)."""
    with reading(onboarding.vault.engine) as session:
        row = session.get(CredentialProposal, proposal_id)
        return row.institution_id if row is not None else None


def _pending(session: Session, institution_id: str, now: datetime) -> bool:
    rows = session.exec(
        select(CredentialProposal).where(
            CredentialProposal.institution_id == institution_id,
            CredentialProposal.state == "pending",
        )
    )
    return any(proposal_view(r, now).state == "pending" for r in rows)


def _pending_row(session: Session, proposal_id: str, now: datetime) -> CredentialProposal:
    row = session.get(CredentialProposal, proposal_id)
    if row is None:
        raise NotFound("no such proposal")
    state = proposal_view(row, now).state
    if state != "pending":
        raise Conflict(f"proposal_{state}", f"The proposal is {state}.")
    return row


def _decidable(
    session: Session, caller: Caller, proposal_id: str, now: datetime
) -> CredentialProposal:
    row = _pending_row(session, proposal_id, now)
    if row.proposed_by == caller.actor_id:
        raise FourEyes()
    return row
