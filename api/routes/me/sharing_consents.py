"""Sharing consents (R3): give, list, read, renew, switch and revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import CitizenCaller, subject_of
from api.routes.me.common import (
    PLAIN,
    RENEWED,
    SHARING_GIVEN,
    SWITCHED,
    Ident,
    SharingConsentsDep,
    located,
)
from api.routes.me.schemas import SharingConsentList, SharingConsentPublic, SharingConsentSwitch
from api.schemas import SharingConsentCreate
from policies.vocabulary import ConsentKind, Source
from vault.sharing.consents import SharingConsentView

router = APIRouter(tags=["citizen"])

CONSENTS = "/v1/me/sharing-consents"


def _sharing(view: SharingConsentView) -> SharingConsentPublic:
    c = view.consent
    return SharingConsentPublic(
        id=c.id,
        institution_id=c.institution_id,
        kind=ConsentKind(c.kind),
        scopes=[Source(s) for s in view.scopes],
        granted_at=c.granted_at,
        expires_at=c.expires_at,
        revoked_at=c.revoked_at,
        active=view.active,
    )


@router.post(
    CONSENTS,
    status_code=status.HTTP_201_CREATED,
    response_model=SharingConsentPublic,
    responses=SHARING_GIVEN,
)
def give_sharing_consent(
    body: SharingConsentCreate,
    caller: CitizenCaller,
    consents: SharingConsentsDep,
    response: Response,
) -> SharingConsentPublic:
    """Let a Hong Kong institution's professionals view the records in ``scopes``, for
    ``one_year`` or ``indefinite``. A consent the institution already holds is replaced
    (revoked at the same instant). HA and DH hold implied eHR sharing from joining; a
    consent to them is how the Personal Folder is opened to them."""
    scopes = [str(s) for s in body.scopes]
    person = subject_of(caller)
    view = consents.give_sharing_consent(caller, person, body.institution_id, body.kind, scopes)
    located(response, f"{CONSENTS}/{view.consent.id}")
    return _sharing(view)


@router.get(CONSENTS, response_model=SharingConsentList, responses=PLAIN)
def list_sharing_consents(
    caller: CitizenCaller, consents: SharingConsentsDep
) -> SharingConsentList:
    """Every sharing consent given, in force or not, newest first."""
    views = consents.sharing_consents(caller, subject_of(caller))
    return SharingConsentList(items=[_sharing(v) for v in views])


@router.get(CONSENTS + "/{consent_id}", response_model=SharingConsentPublic, responses=PLAIN)
def get_sharing_consent(
    consent_id: Ident, caller: CitizenCaller, consents: SharingConsentsDep
) -> SharingConsentPublic:
    """One sharing consent, in force or not."""
    return _sharing(consents.sharing_consent(caller, subject_of(caller), consent_id))


@router.post(
    CONSENTS + "/{consent_id}/renew",
    status_code=status.HTTP_201_CREATED,
    response_model=SharingConsentPublic,
    responses=RENEWED,
)
def renew_sharing_consent(
    consent_id: Ident, caller: CitizenCaller, consents: SharingConsentsDep, response: Response
) -> SharingConsentPublic:
    """Renew a ``one_year`` consent (in force or expired, not revoked) for a year from now.
    A consent's terms never change: the renewal is a new consent (new id, ``Location``),
    and the old one is revoked at the same instant."""
    view = consents.renew_sharing_consent(caller, subject_of(caller), consent_id)
    located(response, f"{CONSENTS}/{view.consent.id}")
    return _sharing(view)


@router.patch(CONSENTS + "/{consent_id}", response_model=SharingConsentPublic, responses=SWITCHED)
def switch_sharing_consent(
    consent_id: Ident,
    body: SharingConsentSwitch,
    caller: CitizenCaller,
    consents: SharingConsentsDep,
    response: Response,
) -> SharingConsentPublic:
    """Switch a consent in force between ``one_year`` and ``indefinite``. The answer is the
    consent now in force: a new one (new id, ``Location``) replacing the old, or the same
    one if it already had that kind."""
    view = consents.switch_sharing_consent(caller, subject_of(caller), consent_id, body.kind)
    located(response, f"{CONSENTS}/{view.consent.id}")
    return _sharing(view)


@router.delete(CONSENTS + "/{consent_id}", status_code=status.HTTP_204_NO_CONTENT, responses=PLAIN)
def revoke_sharing_consent(
    consent_id: Ident, caller: CitizenCaller, consents: SharingConsentsDep
) -> None:
    """Revoke from this instant (idempotent): the institution's next read is refused, and
    restricted-access grants obtained under the consent end with it."""
    consents.revoke_sharing_consent(caller, subject_of(caller), consent_id)
