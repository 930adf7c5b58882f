"""Giving an institution its admin credential: one operator proposes, another approves
(R9: four eyes). The pending state is visible and expires; every step is audited; the
public registry shows when an institution's credentials last changed.

* ``POST /v1/admin/institutions/{iid}/admin-credential-proposals`` — propose (201);
* ``GET /v1/admin/credential-proposals`` — every proposal and its state;
* ``POST /v1/admin/credential-proposals/{id}/approve`` — another operator approves: the
  admin credential (``client_id``, ``client_secret`` shown once) replaces any earlier one;
  403 ``four_eyes_required`` for the proposer; 409 ``proposal_expired`` /
  ``proposal_approved`` / ``proposal_withdrawn``;
* ``POST /v1/admin/credential-proposals/{id}/withdraw`` — the proposer withdraws it.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.deps import OperatorCaller, ServicesDep
from vault.registry.onboarding import Onboarding, ProposalState, ProposalView

router = APIRouter(tags=["operator"])
PROPOSALS = "/v1/admin/credential-proposals"


class ProposalPublic(BaseModel):
    id: str = Field(description="The proposal's id.")
    institution_id: str = Field(description="The institution it would give a credential.")
    proposed_by: str = Field(description="The operator who proposed it.")
    proposed_at: str = Field(description="When (ISO 8601).")
    expires_at: str = Field(description="After this it can no longer be approved.")
    state: ProposalState = Field(description="pending, approved, withdrawn or expired.")
    decided_by: str | None = Field(description="The operator who approved or withdrew it.")


class ProposalList(BaseModel):
    items: list[ProposalPublic]


class AdminCredentialIssued(BaseModel):
    proposal: ProposalPublic
    client_id: str = Field(description="The institution's admin client id.")
    client_secret: str = Field(description="Its secret: shown only in this answer.")


def _public(view: ProposalView) -> ProposalPublic:
    p = view.proposal
    return ProposalPublic(
        id=p.id,
        institution_id=p.institution_id,
        proposed_by=p.proposed_by,
        proposed_at=p.proposed_at.isoformat(),
        expires_at=p.expires_at.isoformat(),
        state=view.state,
        decided_by=p.decided_by,
    )


@router.post(
    "/v1/admin/institutions/{iid}/admin-credential-proposals",
    status_code=status.HTTP_201_CREATED,
    response_model=ProposalPublic,
)
def propose(iid: str, services: ServicesDep, caller: OperatorCaller) -> ProposalPublic:
    """Propose the institution's (first or next) admin credential; another operator must
    approve it before ``expires_at``."""
    return _public(Onboarding(services.judge).propose(caller, iid))


@router.get(PROPOSALS, response_model=ProposalList)
def proposals(services: ServicesDep, caller: OperatorCaller) -> ProposalList:
    """Every proposal, newest first, with its state."""
    return ProposalList(items=[_public(v) for v in Onboarding(services.judge).proposals(caller)])


@router.post(PROPOSALS + "/{proposal_id}/approve", response_model=AdminCredentialIssued)
def approve(
    proposal_id: str, services: ServicesDep, caller: OperatorCaller
) -> AdminCredentialIssued:
    """Approve another operator's pending proposal: the institution's admin credential,
    shown only here — hand it to the institution."""
    issued = Onboarding(services.judge).approve(caller, proposal_id)
    return AdminCredentialIssued(
        proposal=_public(issued.view),
        client_id=issued.client_id,
        client_secret=issued.client_secret.reveal(),
    )


@router.post(PROPOSALS + "/{proposal_id}/withdraw", response_model=ProposalPublic)
def withdraw(proposal_id: str, services: ServicesDep, caller: OperatorCaller) -> ProposalPublic:
    """Withdraw your own pending proposal."""
    return _public(Onboarding(services.judge).withdraw(caller, proposal_id))
