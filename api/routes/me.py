"""The person's account: profile, sharing consents, cross-border and radiology
authorisations, caregivers, the access log and notifications.

Called with a citizen token; with ``On-Behalf-Of: <person_id>`` the caller acts as that
person's caregiver, which the policy allows only under an active delegation (R2).

How refusals answer (see :mod:`vault.account.profile`):

* a caller who may not act for the person at all — a would-be caregiver without an active
  delegation (none, revoked or expired), or an unknown person id in ``On-Behalf-Of`` — gets
  the canonical 404, byte for byte the one for an id that does not exist (R10);
* another person's consent, authorisation or delegation id is the same 404;
* the person (or their caregiver) asking for something the policy refuses on their own
  account gets a 403 or 422 with a stable ``code`` (and, for cross-border and radiology
  applications, the ``reason``: it concerns only their own eligibility, or the public
  registry);
* a caregiver may do everything the person may, except manage caregivers (403
  ``caregiver_cannot_delegate``: no further delegation).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.routing import APIRoute

from api.deps import CitizenCaller, ServicesDep, subject_of
from api.errors import Problem
from api.routes.me_schemas import (
    AccessLogEntry,
    AccessLogPage,
    CaregiverCreate,
    CaregiverList,
    CaregiverPublic,
    CrossBorderAuthorisationCreate,
    CrossBorderAuthorisationIssued,
    CrossBorderAuthorisationList,
    CrossBorderAuthorisationPublic,
    NotificationPage,
    NotificationPublic,
    RadiologyAuthorisationCreate,
    RadiologyAuthorisationIssued,
    RadiologyAuthorisationList,
    RadiologyAuthorisationPublic,
    SharingConsentList,
    SharingConsentPublic,
    SharingConsentSwitch,
    problem_answers,
)
from api.schemas import Me, SharingConsentCreate
from policies.vocabulary import Action, ConsentKind, Reason, Source
from vault.account.caregivers import Caregivers, DelegationView
from vault.account.profile import (
    Account,
    AccountConflict,
    AccountDenied,
    AccountInvalid,
    InvalidCursor,
    NotificationView,
)
from vault.crypto.aad import CodeKind
from vault.crypto.secrets import Secret
from vault.sharing.consents import (
    Consents,
    CrossBorderView,
    RadiologyView,
    SharingConsentView,
)
from vault.store.tables import AuditEntry

_AccountError = AccountDenied | AccountConflict | AccountInvalid | InvalidCursor


@dataclass(frozen=True)
class _Refusal:
    status: int
    code: str
    title: str
    detail: str
    tell_reason: bool = False  # the reason concerns only the person (or the public registry)


_NOT_MAINLAND = _Refusal(
    422,
    "not_a_mainland_institution",
    "Not a Mainland institution",
    "This authorisation is for designated Mainland institutions only.",
)


def _cross_border_refused(detail: str) -> _Refusal:
    return _Refusal(403, "cross_border_not_permitted", "Application refused", detail, True)


# (action, reason) -> answer; action None: any action. Unlisted: a plain 403 "forbidden".
_REFUSALS: dict[tuple[str | None, Reason], _Refusal] = {
    (None, Reason.UNKNOWN_INSTITUTION): _Refusal(
        422, "unknown_institution", "Unknown institution", "No institution has that id."
    ),
    (Action.GRANT_SHARING_CONSENT, Reason.WRONG_REGION): _Refusal(
        422,
        "not_a_hong_kong_institution",
        "Not a Hong Kong institution",
        "Sharing consent is given to Hong Kong institutions only.",
    ),
    (Action.APPLY_CROSS_BORDER, Reason.WRONG_REGION): _NOT_MAINLAND,
    (Action.GRANT_RADIOLOGY_AUTHORISATION, Reason.WRONG_REGION): _NOT_MAINLAND,
    (None, Reason.DELEGATION_CANNOT_DELEGATE): _Refusal(
        403,
        "caregiver_cannot_delegate",
        "Forbidden",
        "A caregiver cannot manage the person's caregivers.",
    ),
    (Action.APPLY_CROSS_BORDER, Reason.NOT_DESIGNATED): _cross_border_refused(
        "The institution is not designated for the cross-border record today."
    ),
    (Action.APPLY_CROSS_BORDER, Reason.NOT_JOINED): _cross_border_refused(
        "The cross-border record needs an eHealth account that has joined."
    ),
    (Action.APPLY_CROSS_BORDER, Reason.NOT_ELIGIBLE): _cross_border_refused(
        "On today's rules this person is not eligible (age) to apply."
    ),
    (Action.GRANT_RADIOLOGY_AUTHORISATION, Reason.NOT_RADIOLOGY_DEPOSITOR): _Refusal(
        403,
        "radiology_authorisation_not_permitted",
        "Not a radiology depositor",
        "The institution is not a designated radiology depositor today.",
        True,
    ),
}
_FORBIDDEN = _Refusal(403, "forbidden", "Forbidden", "This action is not permitted.")


def _denied(exc: AccountDenied) -> Problem:
    answer = (
        _REFUSALS.get((exc.action, exc.reason)) or _REFUSALS.get((None, exc.reason)) or _FORBIDDEN
    )
    problem = Problem(answer.status, answer.code, answer.title, answer.detail)
    if answer.tell_reason:
        problem.extra["reason"] = str(exc.reason)
    return problem


def account_problem(exc: _AccountError) -> Problem:
    """The problem for a refusal on the person's own account."""
    if isinstance(exc, AccountDenied):
        return _denied(exc)
    if isinstance(exc, AccountConflict):
        return Problem(409, exc.code, "Conflict", str(exc))
    if isinstance(exc, AccountInvalid):
        return Problem(422, exc.code, "Unusable request", str(exc))
    return Problem(
        400, "invalid_cursor", "Invalid cursor", "next_cursor values must be passed back unchanged."
    )


class _AccountRoute(APIRoute):
    """Turns the account use-cases' refusals into problems; every other error (the
    canonical 404 included) goes to the app's handlers unchanged."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (AccountDenied, AccountConflict, AccountInvalid, InvalidCursor) as exc:
                raise account_problem(exc) from None

        return answer


router = APIRouter(route_class=_AccountRoute, tags=["citizen"])

Ident = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
_NO_STORE = {"Cache-Control": "no-store"}

# What each kind of operation may answer besides 2xx (401, 403 wrong_role, 404 and 422
# validation_failed are added to every one by problem_answers).
_PLAIN = problem_answers()
_INSTITUTION = [
    (422, "unknown_institution", "No institution has that id."),
]
_SHARING_GIVEN = problem_answers(
    *_INSTITUTION,
    (422, "not_a_hong_kong_institution", "Sharing consent is for Hong Kong institutions."),
)
_RENEWED = problem_answers(
    *_INSTITUTION,
    (409, "consent_revoked", "A revoked consent cannot be renewed."),
    (409, "consent_indefinite", "An indefinite consent never expires."),
)
_SWITCHED = problem_answers(
    *_INSTITUTION, (409, "consent_not_active", "Only a consent in force can be switched.")
)
_MAINLAND_ONLY = (422, "not_a_mainland_institution", "For designated Mainland institutions.")
_APPLIED = problem_answers(
    *_INSTITUTION,
    _MAINLAND_ONLY,
    (
        403,
        "cross_border_not_permitted",
        "Refused; `reason`: not_designated, not_joined or "
        "not_eligible (age, on the policy's timeline).",
    ),
)
_RADIOLOGY_GRANTED = problem_answers(
    *_INSTITUTION,
    _MAINLAND_ONLY,
    (403, "radiology_authorisation_not_permitted", "Not a radiology depositor today."),
)
_NO_DELEGATION = (403, "caregiver_cannot_delegate", "A caregiver cannot manage caregivers.")
_CAREGIVERS = problem_answers(_NO_DELEGATION)
_APPOINTED = problem_answers(
    _NO_DELEGATION,
    (422, "caregiver_is_self", "A person cannot be their own caregiver."),
    (422, "unknown_caregiver", "No person has that id."),
    (422, "expiry_not_in_future", "expires_at must be in the future."),
)
_PAGED = problem_answers((400, "invalid_cursor", "Not a next_cursor this server gave out."))
_PNG = {
    **problem_answers(),
    200: {"content": {"image/png": {}}, "description": "A QR code (PNG)."},
}


def _account(services: ServicesDep) -> Account:
    return Account(services.judge)


def _consents(services: ServicesDep) -> Consents:
    return Consents(services.judge)


def _caregivers(services: ServicesDep) -> Caregivers:
    return Caregivers(services.judge)


AccountDep = Annotated[Account, Depends(_account)]
ConsentsDep = Annotated[Consents, Depends(_consents)]
CaregiversDep = Annotated[Caregivers, Depends(_caregivers)]


def _qr(code: Secret[str]) -> Response:
    buffer = io.BytesIO()
    segno.make(code.reveal(), error="m").save(buffer, kind="png", scale=8)
    return Response(buffer.getvalue(), media_type="image/png", headers=_NO_STORE)


def _located(response: Response, path: str) -> None:
    response.headers["Location"] = path


# --- the profile -------------------------------------------------------------------------


@router.get("/v1/me", response_model=Me, responses=_PLAIN)
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


# --- sharing consents (R3) ---------------------------------------------------------------

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
    responses=_SHARING_GIVEN,
)
def give_sharing_consent(
    body: SharingConsentCreate, caller: CitizenCaller, consents: ConsentsDep, response: Response
) -> SharingConsentPublic:
    """Let a Hong Kong institution's professionals view the records in ``scopes``, for
    ``one_year`` or ``indefinite``. A consent the institution already holds is replaced
    (revoked at the same instant). HA and DH hold implied eHR sharing from joining; a
    consent to them is how the Personal Folder is opened to them."""
    scopes = [str(s) for s in body.scopes]
    person = subject_of(caller)
    view = consents.give_sharing_consent(caller, person, body.institution_id, body.kind, scopes)
    _located(response, f"{CONSENTS}/{view.consent.id}")
    return _sharing(view)


@router.get(CONSENTS, response_model=SharingConsentList, responses=_PLAIN)
def list_sharing_consents(caller: CitizenCaller, consents: ConsentsDep) -> SharingConsentList:
    """Every sharing consent given, in force or not, newest first."""
    views = consents.sharing_consents(caller, subject_of(caller))
    return SharingConsentList(items=[_sharing(v) for v in views])


@router.get(CONSENTS + "/{consent_id}", response_model=SharingConsentPublic, responses=_PLAIN)
def get_sharing_consent(
    consent_id: Ident, caller: CitizenCaller, consents: ConsentsDep
) -> SharingConsentPublic:
    """One sharing consent, in force or not."""
    return _sharing(consents.sharing_consent(caller, subject_of(caller), consent_id))


@router.post(
    CONSENTS + "/{consent_id}/renew",
    status_code=status.HTTP_201_CREATED,
    response_model=SharingConsentPublic,
    responses=_RENEWED,
)
def renew_sharing_consent(
    consent_id: Ident, caller: CitizenCaller, consents: ConsentsDep, response: Response
) -> SharingConsentPublic:
    """Renew a ``one_year`` consent (in force or expired, not revoked) for a year from now.
    A consent's terms never change: the renewal is a new consent (new id, ``Location``),
    and the old one is revoked at the same instant."""
    view = consents.renew_sharing_consent(caller, subject_of(caller), consent_id)
    _located(response, f"{CONSENTS}/{view.consent.id}")
    return _sharing(view)


@router.patch(CONSENTS + "/{consent_id}", response_model=SharingConsentPublic, responses=_SWITCHED)
def switch_sharing_consent(
    consent_id: Ident,
    body: SharingConsentSwitch,
    caller: CitizenCaller,
    consents: ConsentsDep,
    response: Response,
) -> SharingConsentPublic:
    """Switch a consent in force between ``one_year`` and ``indefinite``. The answer is the
    consent now in force: a new one (new id, ``Location``) replacing the old, or the same
    one if it already had that kind."""
    view = consents.switch_sharing_consent(caller, subject_of(caller), consent_id, body.kind)
    _located(response, f"{CONSENTS}/{view.consent.id}")
    return _sharing(view)


@router.delete(CONSENTS + "/{consent_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_PLAIN)
def revoke_sharing_consent(consent_id: Ident, caller: CitizenCaller, consents: ConsentsDep) -> None:
    """Revoke from this instant (idempotent): the institution's next read is refused, and
    restricted-access grants obtained under the consent end with it."""
    consents.revoke_sharing_consent(caller, subject_of(caller), consent_id)


# --- cross-border authorisations (R4) ----------------------------------------------------

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
    responses=_APPLIED,
)
def apply_cross_border(
    body: CrossBorderAuthorisationCreate,
    caller: CitizenCaller,
    consents: ConsentsDep,
    response: Response,
) -> CrossBorderAuthorisationIssued:
    """Apply for the Cross-boundary Health Record at one designated Mainland institution.
    The application code and passcode are in this response only (afterwards only as QR
    codes, at ``/{id}/qr/application`` and ``/{id}/qr/passcode``); they open viewing
    sessions from ``usable_from`` (72 h after issue in the 2024 pilot) to ``expires_at``."""
    issued = consents.apply_cross_border(caller, subject_of(caller), body.institution_id)
    a = issued.view.authorisation
    _located(response, f"{CROSS_BORDER}/{a.id}")
    response.headers.update(_NO_STORE)
    return CrossBorderAuthorisationIssued(
        id=a.id,
        institution_id=a.institution_id,
        application_code=issued.application_code.reveal(),
        passcode=issued.passcode.reveal(),
        issued_at=a.issued_at,
        usable_from=a.usable_from,
        expires_at=a.expires_at,
    )


@router.get(CROSS_BORDER, response_model=CrossBorderAuthorisationList, responses=_PLAIN)
def list_cross_border(caller: CitizenCaller, consents: ConsentsDep) -> CrossBorderAuthorisationList:
    """Every application, newest first, with its status (never the codes)."""
    views = consents.cross_border_authorisations(caller, subject_of(caller))
    return CrossBorderAuthorisationList(items=[_cross_border(v) for v in views])


@router.get(
    CROSS_BORDER + "/{authorisation_id}",
    response_model=CrossBorderAuthorisationPublic,
    responses=_PLAIN,
)
def get_cross_border(
    authorisation_id: Ident, caller: CitizenCaller, consents: ConsentsDep
) -> CrossBorderAuthorisationPublic:
    """One application and its status (never the codes)."""
    view = consents.cross_border_authorisation(caller, subject_of(caller), authorisation_id)
    return _cross_border(view)


@router.delete(
    CROSS_BORDER + "/{authorisation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_PLAIN
)
def revoke_cross_border(
    authorisation_id: Ident, caller: CitizenCaller, consents: ConsentsDep
) -> None:
    """Revoke from this instant (idempotent); viewing sessions opened with it end too."""
    consents.revoke_cross_border(caller, subject_of(caller), authorisation_id)


@router.get(
    CROSS_BORDER + "/{authorisation_id}/qr/{which}", response_class=Response, responses=_PNG
)
def cross_border_qr(
    authorisation_id: Ident,
    which: Literal["application", "passcode"],
    caller: CitizenCaller,
    consents: ConsentsDep,
) -> Response:
    """The application code or the passcode as a QR code (PNG), for staff to scan; 404
    once the authorisation is revoked, expired or locked (after repeated failures)."""
    person = subject_of(caller)
    return _qr(consents.cross_border_code(caller, person, authorisation_id, CodeKind(which)))


# --- radiology authorisations (R5) -------------------------------------------------------

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
    responses=_RADIOLOGY_GRANTED,
)
def grant_radiology(
    body: RadiologyAuthorisationCreate,
    caller: CitizenCaller,
    consents: ConsentsDep,
    response: Response,
) -> RadiologyAuthorisationIssued:
    """The "Authorisation QR code" letting a designated radiology depositor file one
    visit's radiology report and images into the Personal Folder. The code is in this
    response only (afterwards only as a QR code at ``/{id}/qr``, while usable)."""
    issued = consents.grant_radiology(caller, subject_of(caller), body.institution_id)
    a = issued.view.authorisation
    _located(response, f"{RADIOLOGY}/{a.id}")
    response.headers.update(_NO_STORE)
    return RadiologyAuthorisationIssued(
        id=a.id,
        institution_id=a.institution_id,
        authorisation_code=issued.code.reveal(),
        issued_at=a.issued_at,
        expires_at=a.expires_at,
    )


@router.get(RADIOLOGY, response_model=RadiologyAuthorisationList, responses=_PLAIN)
def list_radiology(caller: CitizenCaller, consents: ConsentsDep) -> RadiologyAuthorisationList:
    """Every radiology authorisation, newest first, with its status (never the code)."""
    views = consents.radiology_authorisations(caller, subject_of(caller))
    return RadiologyAuthorisationList(items=[_radiology(v) for v in views])


@router.get(
    RADIOLOGY + "/{authorisation_id}", response_model=RadiologyAuthorisationPublic, responses=_PLAIN
)
def get_radiology(
    authorisation_id: Ident, caller: CitizenCaller, consents: ConsentsDep
) -> RadiologyAuthorisationPublic:
    """One radiology authorisation and its status (never the code)."""
    view = consents.radiology_authorisation(caller, subject_of(caller), authorisation_id)
    return _radiology(view)


@router.delete(
    RADIOLOGY + "/{authorisation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_PLAIN
)
def revoke_radiology(authorisation_id: Ident, caller: CitizenCaller, consents: ConsentsDep) -> None:
    """Revoke from this instant (idempotent): the code deposits nothing more."""
    consents.revoke_radiology(caller, subject_of(caller), authorisation_id)


@router.get(RADIOLOGY + "/{authorisation_id}/qr", response_class=Response, responses=_PNG)
def radiology_qr(authorisation_id: Ident, caller: CitizenCaller, consents: ConsentsDep) -> Response:
    """The Authorisation QR code (PNG); 404 once revoked, used or expired."""
    return _qr(consents.radiology_code(caller, subject_of(caller), authorisation_id))


# --- caregivers (R2) ---------------------------------------------------------------------

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
    responses=_APPOINTED,
)
def appoint_caregiver(
    body: CaregiverCreate, caller: CitizenCaller, caregivers: CaregiversDep, response: Response
) -> CaregiverPublic:
    """Let another registered person act for this one (``On-Behalf-Of``) until
    ``expires_at`` or revocation. Appointing a current caregiver again replaces their
    delegation. The person only: a caregiver cannot appoint caregivers."""
    view = caregivers.appoint(caller, subject_of(caller), body.caregiver_id, body.expires_at)
    _located(response, f"{CAREGIVERS}/{view.delegation.id}")
    return _caregiver(view)


@router.get(CAREGIVERS, response_model=CaregiverList, responses=_CAREGIVERS)
def list_caregivers(caller: CitizenCaller, caregivers: CaregiversDep) -> CaregiverList:
    """Every delegation the person gave, in force or not, newest first."""
    views = caregivers.delegations(caller, subject_of(caller))
    return CaregiverList(items=[_caregiver(v) for v in views])


@router.get(CAREGIVERS + "/{delegation_id}", response_model=CaregiverPublic, responses=_CAREGIVERS)
def get_caregiver(
    delegation_id: Ident, caller: CitizenCaller, caregivers: CaregiversDep
) -> CaregiverPublic:
    """One delegation, in force or not."""
    return _caregiver(caregivers.delegation(caller, subject_of(caller), delegation_id))


@router.delete(
    CAREGIVERS + "/{delegation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_CAREGIVERS
)
def revoke_caregiver(
    delegation_id: Ident, caller: CitizenCaller, caregivers: CaregiversDep
) -> None:
    """Revoke from this instant (idempotent): the caregiver's next request is refused."""
    caregivers.revoke(caller, subject_of(caller), delegation_id)


# --- the access log and notifications (R11) ----------------------------------------------


@router.get("/v1/me/access-log", response_model=AccessLogPage, responses=_PAGED)
def access_log(
    caller: CitizenCaller, account: AccountDep, limit: Limit = 50, cursor: Cursor = None
) -> AccessLogPage:
    """Every decision about the person's data — who asked (and for whom), what, allowed or
    refused, and why — newest first, paged by ``next_cursor``. Never content or codes."""
    page = account.access_log(caller, subject_of(caller), limit=limit, cursor=cursor)
    return AccessLogPage(items=[_entry(e) for e in page.entries], next_cursor=page.next_cursor)


def _entry(e: AuditEntry) -> AccessLogEntry:
    return AccessLogEntry(
        seq=e.seq,
        at=e.at,
        actor_kind=e.actor_kind,
        actor_id=e.actor_id,
        institution_id=e.institution_id,
        on_behalf_of=e.on_behalf_of,
        action=e.action,
        resource_id=e.resource_id,
        allowed=e.allowed,
        reason=e.reason,
    )


@router.get("/v1/me/notifications", response_model=NotificationPage, responses=_PAGED)
def notifications(
    caller: CitizenCaller,
    account: AccountDep,
    response: Response,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> NotificationPage:
    """The simulated SMS/e-mail channel, newest first: one notification per view by
    someone else, and the one-time passwords of restricted-access requests (``detail``,
    shown only here, to the person or their caregiver)."""
    page = account.notifications(caller, subject_of(caller), limit=limit, cursor=cursor)
    response.headers.update(_NO_STORE)
    return NotificationPage(items=[_notice(v) for v in page.items], next_cursor=page.next_cursor)


def _notice(view: NotificationView) -> NotificationPublic:
    n = view.notification
    return NotificationPublic(
        id=n.id,
        at=n.at,
        channel=n.channel,
        event=n.event,
        actor_kind=n.actor_kind,
        actor_id=n.actor_id,
        institution_id=n.institution_id,
        detail=view.detail,
    )
