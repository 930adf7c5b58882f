"""The person — or, with ``On-Behalf-Of``, the person cared for (R1, R2)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from api.deps import CitizenCaller, ServicesDep, client_address, subject_of
from api.routes.me.common import PLAIN, AccountDep
from api.schemas import Me, WithdrawalRequest
from vault.account.withdrawal import Withdrawal
from vault.crypto.secrets import Secret

router = APIRouter(tags=["citizen"])


@router.get("/v1/me", response_model=Me, responses=PLAIN)
def me(caller: CitizenCaller, account: AccountDep) -> Me:
    """The person — or, with ``On-Behalf-Of``, the person cared for
    (``acting_as_caregiver_for``)."""
    profile = account.profile(caller, subject_of(caller))
    return Me(
        id=profile.id,
        name=profile.name,
        date_of_birth=profile.date_of_birth,
        joined=profile.joined,
        acting_as_caregiver_for=caller.acting_for,
    )


@router.post(
    "/v1/me/withdraw",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PLAIN,
    summary="Withdraw from the vault (erases everything of yours)",
)
def withdraw(
    body: WithdrawalRequest, request: Request, caller: CitizenCaller, services: ServicesDep
) -> None:
    """Leave the vault, re-authenticating with your password (a caregiver with your
    delegation: with their own). Your data key is destroyed and your records deleted;
    every consent, authorisation, delegation, session and grant of yours ends at once.
    The audit log keeps who did what, never health data. Cannot be undone.
    400 ``invalid_password``; 429 ``too_many_attempts`` after repeated wrong passwords."""
    address = client_address(request)
    Withdrawal(services.judge).withdraw(caller, Secret(body.password), address)
