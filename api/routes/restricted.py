"""Hong Kong professionals (R3): open categories restricted for their profession with a
stated reason and the person's one-time password.

Answers (problem ``code``):

* ``POST /v1/patients/{pid}/restricted-access`` — 201 (the OTP goes to the person as a
  notification, valid 10 minutes); the canonical 404 ``not_found`` when the policy
  refuses (person unknown or not joined, no sharing consent, a Mainland token: R10);
  422 ``validation_failed`` (reason under 10 characters, unknown category).
* ``POST /v1/patients/{pid}/restricted-access/{rid}/confirm`` — 200 with the grant (30
  minutes by default); 400 ``invalid_otp`` / ``otp_expired``; 409 ``already_confirmed``;
  423 ``locked_out`` (5 wrong OTPs lock the request for good; 5 failures across requests
  lock the professional out for 15 minutes, see ``Retry-After``); the canonical 404 for a
  request that does not exist or is another professional's, or when the consent it needs
  has ended meanwhile.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from api.deps import ProfessionalCaller, ServicesDep
from api.routes.cross_border_schemas import (
    RestrictedAccessConfirm,
    RestrictedAccessCreate,
    RestrictedAccessGrantPublic,
    RestrictedAccessPending,
    problems,
)
from vault.crypto.secrets import Secret
from vault.restricted.requests import RestrictedAccess

router = APIRouter(tags=["hk-professional"])


def restricted_access(services: ServicesDep) -> RestrictedAccess:
    return RestrictedAccess(services.judge)


RestrictedDep = Annotated[RestrictedAccess, Depends(restricted_access)]


@router.post(
    "/v1/patients/{pid}/restricted-access",
    status_code=status.HTTP_201_CREATED,
    response_model=RestrictedAccessPending,
    responses=problems((404, "not_found", "No such person, or not yours to see.")),
)
def request_restricted_access(
    pid: str,
    body: RestrictedAccessCreate,
    caller: ProfessionalCaller,
    restricted: RestrictedDep,
) -> RestrictedAccessPending:
    """Ask for restricted categories, stating why. The person receives a six-digit OTP
    (valid 10 minutes) to pass on; confirm it with ``.../{rid}/confirm``."""
    pending = restricted.request(caller, pid, body.reason, body.categories)
    return RestrictedAccessPending(
        id=pending.id, categories=list(pending.categories), otp_expires_at=pending.otp_expires_at
    )


@router.post(
    "/v1/patients/{pid}/restricted-access/{rid}/confirm",
    response_model=RestrictedAccessGrantPublic,
    responses=problems(
        (400, "invalid_otp", "The one-time password was not accepted."),
        (400, "otp_expired", "The one-time password has expired."),
        (404, "not_found", "No such request, or not yours."),
        (409, "already_confirmed", "The request was already confirmed."),
        (423, "locked_out", "Too many wrong one-time passwords (see Retry-After)."),
    ),
)
def confirm_restricted_access(
    pid: str,
    rid: str,
    body: RestrictedAccessConfirm,
    caller: ProfessionalCaller,
    restricted: RestrictedDep,
) -> RestrictedAccessGrantPublic:
    """Confirm with the person's OTP: the categories open to you until ``expires_at``
    (30 minutes by default). The person is told of every view."""
    grant = restricted.confirm(caller, pid, rid, Secret(body.otp))
    return RestrictedAccessGrantPublic(
        id=grant.id, categories=list(grant.categories), expires_at=grant.expires_at
    )
