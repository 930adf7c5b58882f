"""Caregivers (R2): appoint, list, read and revoke the people who may act for the person."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import APPOINTED, CAREGIVER_ANSWERS, CaregiversDep, Ident, located
from api.routes.me.schemas import CaregiverCreate, CaregiverList, CaregiverPublic
from vault.account.caregivers import DelegationView

router = APIRouter(tags=["citizen"])

CAREGIVERS = "/v1/me/caregivers"


def _caregiver(view: DelegationView) -> CaregiverPublic:
    d = view.delegation
    return CaregiverPublic(
        id=d.id,
        caregiver_id=d.caregiver_id,
        granted_at=d.granted_at,
        expires_at=d.expires_at,
        revoked_at=d.revoked_at,
        active=view.active,
    )


@router.post(
    CAREGIVERS,
    status_code=status.HTTP_201_CREATED,
    response_model=CaregiverPublic,
    responses=APPOINTED,
)
def appoint_caregiver(
    body: CaregiverCreate, caller: CitizenCaller, caregivers: CaregiversDep, response: Response
) -> CaregiverPublic:
    """Let another registered person act for this one (``On-Behalf-Of``) until
    ``expires_at`` or revocation. Appointing a current caregiver again replaces their
    delegation. The person only: a caregiver cannot appoint caregivers."""
    view = caregivers.appoint(caller, subject_of(caller), body.caregiver_id, body.expires_at)
    located(response, f"{CAREGIVERS}/{view.delegation.id}")
    return _caregiver(view)


@router.get(CAREGIVERS, response_model=CaregiverList, responses=CAREGIVER_ANSWERS)
def list_caregivers(caller: CitizenCaller, caregivers: CaregiversDep) -> CaregiverList:
    """Every delegation the person gave, in force or not, newest first."""
    views = caregivers.delegations(caller, subject_of(caller))
    return CaregiverList(items=[_caregiver(v) for v in views])


@router.get(
    CAREGIVERS + "/{delegation_id}", response_model=CaregiverPublic, responses=CAREGIVER_ANSWERS
)
def get_caregiver(
    delegation_id: Ident, caller: CitizenCaller, caregivers: CaregiversDep
) -> CaregiverPublic:
    """One delegation, in force or not."""
    return _caregiver(caregivers.delegation(caller, subject_of(caller), delegation_id))


@router.delete(
    CAREGIVERS + "/{delegation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=CAREGIVER_ANSWERS,
)
def revoke_caregiver(
    delegation_id: Ident, caller: CitizenCaller, caregivers: CaregiversDep
) -> None:
    """Revoke from this instant (idempotent): the caregiver's next request is refused."""
    caregivers.revoke(caller, subject_of(caller), delegation_id)
