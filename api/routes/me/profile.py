"""The person — or, with ``On-Behalf-Of``, the person cared for (R1, R2)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import PLAIN, AccountDep
from api.schemas import Me

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
