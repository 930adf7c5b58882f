"""Radiology authorisations (R5): the Authorisation QR code, listed, read and revoked."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import (
    NO_STORE,
    PLAIN,
    PNG,
    RADIOLOGY_GRANTED,
    Ident,
    RadiologyAuthorisationsDep,
    located,
    qr_png,
)
from api.routes.me.schemas import (
    RadiologyAuthorisationCreate,
    RadiologyAuthorisationIssued,
    RadiologyAuthorisationList,
    RadiologyAuthorisationPublic,
)
from vault.radiology.authorisations import RadiologyView

router = APIRouter(tags=["citizen"])

RADIOLOGY = "/v1/me/radiology-authorisations"


def _radiology(view: RadiologyView) -> RadiologyAuthorisationPublic:
    a = view.authorisation
    return RadiologyAuthorisationPublic(
        id=a.id,
        institution_id=a.institution_id,
        issued_at=a.issued_at,
        expires_at=a.expires_at,
        revoked_at=a.revoked_at,
        used_at=a.used_at,
        status=view.status,
    )


@router.post(
    RADIOLOGY,
    status_code=status.HTTP_201_CREATED,
    response_model=RadiologyAuthorisationIssued,
    responses=RADIOLOGY_GRANTED,
)
def grant_radiology(
    body: RadiologyAuthorisationCreate,
    caller: CitizenCaller,
    consents: RadiologyAuthorisationsDep,
    response: Response,
) -> RadiologyAuthorisationIssued:
    """The "Authorisation QR code" letting a designated radiology depositor file one
    visit's radiology report and images into the Personal Folder. The code is in this
    response only (afterwards only as a QR code at ``/{id}/qr``, while usable)."""
    issued = consents.grant_radiology(caller, subject_of(caller), body.institution_id)
    a = issued.view.authorisation
    located(response, f"{RADIOLOGY}/{a.id}")
    response.headers.update(NO_STORE)
    return RadiologyAuthorisationIssued(
        id=a.id,
        institution_id=a.institution_id,
        authorisation_code=issued.code.reveal(),
        issued_at=a.issued_at,
        expires_at=a.expires_at,
    )


@router.get(RADIOLOGY, response_model=RadiologyAuthorisationList, responses=PLAIN)
def list_radiology(
    caller: CitizenCaller, consents: RadiologyAuthorisationsDep
) -> RadiologyAuthorisationList:
    """Every radiology authorisation, newest first, with its status (never the code)."""
    views = consents.radiology_authorisations(caller, subject_of(caller))
    return RadiologyAuthorisationList(items=[_radiology(v) for v in views])


@router.get(
    RADIOLOGY + "/{authorisation_id}", response_model=RadiologyAuthorisationPublic, responses=PLAIN
)
def get_radiology(
    authorisation_id: Ident, caller: CitizenCaller, consents: RadiologyAuthorisationsDep
) -> RadiologyAuthorisationPublic:
    """One radiology authorisation and its status (never the code)."""
    view = consents.radiology_authorisation(caller, subject_of(caller), authorisation_id)
    return _radiology(view)


@router.delete(
    RADIOLOGY + "/{authorisation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=PLAIN
)
def revoke_radiology(
    authorisation_id: Ident, caller: CitizenCaller, consents: RadiologyAuthorisationsDep
) -> None:
    """Revoke from this instant (idempotent): the code deposits nothing more."""
    consents.revoke_radiology(caller, subject_of(caller), authorisation_id)


@router.get(RADIOLOGY + "/{authorisation_id}/qr", response_class=Response, responses=PNG)
def radiologyqr_png(
    authorisation_id: Ident, caller: CitizenCaller, consents: RadiologyAuthorisationsDep
) -> Response:
    """The Authorisation QR code (PNG); 404 once revoked, used or expired."""
    return qr_png(consents.radiology_code(caller, subject_of(caller), authorisation_id))
