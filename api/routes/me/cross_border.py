"""Cross-border authorisations (R4): apply, list, read, revoke, and the two QR codes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import (
    APPLIED,
    NO_STORE,
    PLAIN,
    PNG,
    CrossBorderDep,
    Ident,
    located,
    qr_png,
)
from api.routes.me.schemas import (
    CrossBorderAuthorisationCreate,
    CrossBorderAuthorisationIssued,
    CrossBorderAuthorisationList,
    CrossBorderAuthorisationPublic,
)
from vault.cross_border.authorisations import CrossBorderView
from vault.crypto.aad import CodeKind

router = APIRouter(tags=["citizen"])

CROSS_BORDER = "/v1/me/cross-border-authorisations"


def _cross_border(view: CrossBorderView) -> CrossBorderAuthorisationPublic:
    a = view.authorisation
    return CrossBorderAuthorisationPublic(
        id=a.id,
        institution_id=a.institution_id,
        issued_at=a.issued_at,
        usable_from=a.usable_from,
        expires_at=a.expires_at,
        revoked_at=a.revoked_at,
        status=view.status,
    )


@router.post(
    CROSS_BORDER,
    status_code=status.HTTP_201_CREATED,
    response_model=CrossBorderAuthorisationIssued,
    responses=APPLIED,
)
def apply_cross_border(
    body: CrossBorderAuthorisationCreate,
    caller: CitizenCaller,
    consents: CrossBorderDep,
    response: Response,
) -> CrossBorderAuthorisationIssued:
    """Apply for the Cross-boundary Health Record at one designated Mainland institution.
    The application code and passcode are in this response only (afterwards only as QR
    codes, at ``/{id}/qr/application`` and ``/{id}/qr/passcode``); they open viewing
    sessions from ``usable_from`` (72 h after issue in the 2024 pilot) to ``expires_at``."""
    issued = consents.apply_cross_border(caller, subject_of(caller), body.institution_id)
    a = issued.view.authorisation
    located(response, f"{CROSS_BORDER}/{a.id}")
    response.headers.update(NO_STORE)
    return CrossBorderAuthorisationIssued(
        id=a.id,
        institution_id=a.institution_id,
        application_code=issued.application_code.reveal(),
        passcode=issued.passcode.reveal(),
        issued_at=a.issued_at,
        usable_from=a.usable_from,
        expires_at=a.expires_at,
    )


@router.get(CROSS_BORDER, response_model=CrossBorderAuthorisationList, responses=PLAIN)
def list_cross_border(
    caller: CitizenCaller, consents: CrossBorderDep
) -> CrossBorderAuthorisationList:
    """Every application, newest first, with its status (never the codes)."""
    views = consents.cross_border_authorisations(caller, subject_of(caller))
    return CrossBorderAuthorisationList(items=[_cross_border(v) for v in views])


@router.get(
    CROSS_BORDER + "/{authorisation_id}",
    response_model=CrossBorderAuthorisationPublic,
    responses=PLAIN,
)
def get_cross_border(
    authorisation_id: Ident, caller: CitizenCaller, consents: CrossBorderDep
) -> CrossBorderAuthorisationPublic:
    """One application and its status (never the codes)."""
    view = consents.cross_border_authorisation(caller, subject_of(caller), authorisation_id)
    return _cross_border(view)


@router.delete(
    CROSS_BORDER + "/{authorisation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=PLAIN
)
def revoke_cross_border(
    authorisation_id: Ident, caller: CitizenCaller, consents: CrossBorderDep
) -> None:
    """Revoke from this instant (idempotent); viewing sessions opened with it end too."""
    consents.revoke_cross_border(caller, subject_of(caller), authorisation_id)


@router.get(CROSS_BORDER + "/{authorisation_id}/qr/{which}", response_class=Response, responses=PNG)
def cross_borderqr_png(
    authorisation_id: Ident,
    which: Literal["application", "passcode"],
    caller: CitizenCaller,
    consents: CrossBorderDep,
) -> Response:
    """The application code or the passcode as a QR code (PNG), for staff to scan; 404
    once the authorisation is revoked, expired or locked (after repeated failures)."""
    person = subject_of(caller)
    return qr_png(consents.cross_border_code(caller, person, authorisation_id, CodeKind(which)))
