"""Break-glass (only where the policy enables it: ``policies/break-glass.toml``).

* ``POST /v1/patients/{pid}/break-glass`` — a Hong Kong professional of a permitted
  profession states the emergency; 201 with the access's time box. The person is notified
  at once (with the reason); while it lasts, the person's eHR reads through the ordinary
  ``/v1/patients/{pid}/records`` routes, every view audited ``break_glass`` and notified.
  403 ``break_glass_disabled`` under a policy without the rule (the default) — the same
  for every person id; 403 ``break_glass_not_permitted`` for another profession; 403
  ``justification_too_short`` under the policy's minimum; the canonical 404 for a person
  who does not exist or has not joined (R10).
* ``GET /v1/admin/break-glass`` and ``POST /v1/admin/break-glass/{access_id}/review`` —
  the operator's review list: who, for whom, when, the reason's length, reviewed or not;
  never the reason itself (R9).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel

from api.deps import OperatorCaller, ProfessionalCaller, ServicesDep
from api.routes.cross_border_schemas import StatedReason, problems
from api.schemas import Strict, example
from vault.emergency.break_glass import BreakGlass
from vault.store.tables import BreakGlassAccess

router = APIRouter(tags=["hk-professional"])


def break_glass(services: ServicesDep) -> BreakGlass:
    return BreakGlass(services.judge)


BreakGlassDep = Annotated[BreakGlass, Depends(break_glass)]


class BreakGlassCreate(Strict):
    model_config = example(
        justification="Unconscious in A&E after a fall; anticoagulation status unknown."
    )
    justification: StatedReason


class BreakGlassStarted(BaseModel):
    id: str
    person_id: str
    started_at: datetime
    expires_at: datetime


class BreakGlassReviewItem(BaseModel):
    id: str
    person_id: str
    institution_id: str
    professional_id: str
    started_at: datetime
    expires_at: datetime
    justification_length: int
    reviewed_at: datetime | None
    reviewed_by: str | None


class BreakGlassReviewList(BaseModel):
    items: list[BreakGlassReviewItem]


def _item(row: BreakGlassAccess) -> BreakGlassReviewItem:
    return BreakGlassReviewItem(
        id=row.id,
        person_id=row.person_id,
        institution_id=row.institution_id,
        professional_id=row.professional_id,
        started_at=row.started_at,
        expires_at=row.expires_at,
        justification_length=row.justification_length,
        reviewed_at=row.reviewed_at,
        reviewed_by=row.reviewed_by,
    )


@router.post(
    "/v1/patients/{pid}/break-glass",
    status_code=status.HTTP_201_CREATED,
    response_model=BreakGlassStarted,
    responses=problems(
        (403, "break_glass_disabled", "The policy in force has no emergency access."),
        (403, "break_glass_not_permitted", "Your profession may not use it."),
        (403, "justification_too_short", "State the emergency at the policy's length."),
        (404, "not_found", "No such person, or not joined."),
    ),
)
def invoke_break_glass(
    pid: str, body: BreakGlassCreate, caller: ProfessionalCaller, emergency: BreakGlassDep
) -> BreakGlassStarted:
    """Open the person's eHR for a short time in an emergency, stating why. Audited as
    break-glass, notified to the person at once, reviewed by the operator afterwards."""
    access = emergency.invoke(caller, pid, body.justification)
    return BreakGlassStarted(
        id=access.id,
        person_id=access.person_id,
        started_at=access.started_at,
        expires_at=access.expires_at,
    )


@router.get("/v1/admin/break-glass", response_model=BreakGlassReviewList, tags=["operator"])
def break_glass_accesses(
    caller: OperatorCaller,
    emergency: BreakGlassDep,
    unreviewed: bool = False,
) -> BreakGlassReviewList:
    """Every emergency access, newest first (``unreviewed=true``: those not reviewed)."""
    return BreakGlassReviewList(
        items=[_item(row) for row in emergency.accesses(caller, unreviewed=unreviewed)]
    )


@router.post(
    "/v1/admin/break-glass/{access_id}/review",
    response_model=BreakGlassReviewItem,
    tags=["operator"],
)
def review_break_glass(
    access_id: str, caller: OperatorCaller, emergency: BreakGlassDep
) -> BreakGlassReviewItem:
    """Mark one emergency access reviewed (the first review stands)."""
    return _item(emergency.review(caller, access_id))
