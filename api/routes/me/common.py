"""What the ``/v1/me`` sub-resources share: path and paging parameters, the use-cases as
dependencies, the documented problem answers of each kind of operation, and small helpers
(QR codes, ``Location``)."""

from __future__ import annotations

import io
from typing import Annotated

import segno
from fastapi import Depends, Path, Query, Response

from api.deps import ServicesDep
from api.routes.me.schemas import problem_answers
from vault.account.caregivers import Caregivers
from vault.account.profile import Account
from vault.cross_border.authorisations import CrossBorderAuthorisations
from vault.crypto.secrets import Secret
from vault.radiology.authorisations import RadiologyAuthorisations
from vault.sharing.consents import SharingConsents

Ident = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
NO_STORE = {"Cache-Control": "no-store"}

# What each kind of operation may answer besides 2xx (401, 403 wrong_role, 404 and 422
# validation_failed are added to every one by problem_answers).
PLAIN = problem_answers()
INSTITUTION = [
    (422, "unknown_institution", "No institution has that id."),
]
SHARING_GIVEN = problem_answers(
    *INSTITUTION,
    (422, "not_a_hong_kong_institution", "Sharing consent is for Hong Kong institutions."),
)
RENEWED = problem_answers(
    *INSTITUTION,
    (409, "consent_revoked", "A revoked consent cannot be renewed."),
    (409, "consent_indefinite", "An indefinite consent never expires."),
)
SWITCHED = problem_answers(
    *INSTITUTION, (409, "consent_not_active", "Only a consent in force can be switched.")
)
MAINLAND_ONLY = (422, "not_a_mainland_institution", "For designated Mainland institutions.")
APPLIED = problem_answers(
    *INSTITUTION,
    MAINLAND_ONLY,
    (
        403,
        "cross_border_not_permitted",
        "Refused; `reason`: not_designated, not_joined or "
        "not_eligible (age, on the policy's timeline).",
    ),
)
RADIOLOGY_GRANTED = problem_answers(
    *INSTITUTION,
    MAINLAND_ONLY,
    (403, "radiology_authorisation_not_permitted", "Not a radiology depositor today."),
)
NO_DELEGATION = (403, "caregiver_cannot_delegate", "A caregiver cannot manage caregivers.")
CAREGIVER_ANSWERS = problem_answers(NO_DELEGATION)
APPOINTED = problem_answers(
    NO_DELEGATION,
    (422, "caregiver_is_self", "A person cannot be their own caregiver."),
    (422, "unknown_caregiver", "No person has that id."),
    (422, "expiry_not_in_future", "expires_at must be in the future."),
)
PAGED = problem_answers((400, "invalid_cursor", "Not a next_cursor this server gave out."))
PNG = {
    **problem_answers(),
    200: {"content": {"image/png": {}}, "description": "A QR code (PNG)."},
}


def account(services: ServicesDep) -> Account:
    return Account(services.judge)


def sharing_consents(services: ServicesDep) -> SharingConsents:
    return SharingConsents(services.judge)


def cross_border_authorisations(services: ServicesDep) -> CrossBorderAuthorisations:
    return CrossBorderAuthorisations(services.judge)


def radiology_authorisations(services: ServicesDep) -> RadiologyAuthorisations:
    return RadiologyAuthorisations(services.judge)


def caregivers(services: ServicesDep) -> Caregivers:
    return Caregivers(services.judge)


AccountDep = Annotated[Account, Depends(account)]
SharingConsentsDep = Annotated[SharingConsents, Depends(sharing_consents)]
CrossBorderDep = Annotated[CrossBorderAuthorisations, Depends(cross_border_authorisations)]
RadiologyAuthorisationsDep = Annotated[RadiologyAuthorisations, Depends(radiology_authorisations)]
CaregiversDep = Annotated[Caregivers, Depends(caregivers)]


def qr_png(code: Secret[str]) -> Response:
    buffer = io.BytesIO()
    segno.make(code.reveal(), error="m").save(buffer, kind="png", scale=8)
    return Response(buffer.getvalue(), media_type="image/png", headers=NO_STORE)


def located(response: Response, path: str) -> None:
    response.headers["Location"] = path
