"""The person's pages (or a caregiver's, acting for them): records, cross-boundary
authorisations with their QR codes, sharing consents, the access log and notifications.
Each calls the same use-case as its ``/v1/me`` twin."""

from __future__ import annotations

import base64
import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.problems import Problem
from api.web.common import (
    PREFIX,
    CsrfField,
    checked,
    citizen,
    professional_names,
    see_other,
    subject,
)
from api.web.messages import ACTIONS, ACTORS, N_, STATUSES
from api.web.records_view import Reading, one_record, record_file, record_list
from api.web.render import Page, WebRoute
from policies.vocabulary import ConsentKind, Region, Source
from vault.access.judge import Caller
from vault.account.profile import Account
from vault.cross_border.authorisations import CrossBorderAuthorisations
from vault.crypto.aad import CodeKind
from vault.crypto.secrets import Secret
from vault.sharing.consents import SharingConsents

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)
Ident = Annotated[str, Form(min_length=1, max_length=80)]
APPLICATION, PASSCODE = N_("Application code"), N_("Passcode")


def person(request: Request) -> tuple[Page, Caller, dict[str, Any]]:
    """The page, the caller, and the "acting for" banner's name (the cared-for person's
    profile, read through the policy: a caregiver who may not act sees not-found)."""
    page = Page.of(request)
    caller = citizen(page)
    context: dict[str, Any] = {"person_nav": True}
    if caller.acting_for:
        profile = Account(page.services.judge).profile(caller, caller.acting_for)
        context["acting_name"] = profile.name
    return page, caller, context


@router.get("/records", response_class=HTMLResponse)
def records(request: Request) -> Response:
    page, caller, context = person(request)
    reading = Reading(caller, subject(caller), f"{PREFIX}/records")
    return record_list(page, reading, heading=page.gettext("My records"), **context)


@router.get("/records/{record_id}", response_class=HTMLResponse)
def record(request: Request, record_id: str) -> Response:
    page, caller, context = person(request)
    reading = Reading(caller, subject(caller), f"{PREFIX}/records")
    return one_record(page, reading, record_id[:80], downloads=True, **context)


@router.get("/records/{record_id}/file")
def record_file_download(request: Request, record_id: str) -> Response:
    page, caller, _ = person(request)
    reading = Reading(caller, subject(caller), f"{PREFIX}/records")
    return record_file(page, reading, record_id[:80])


# --- cross-boundary authorisations (R4) --------------------------------------------------


def mainland_institutions(page: Page) -> list[tuple[str, str]]:
    found = page.services.policy.institutions.values()
    return sorted(
        ((i.id, i.name) for i in found if i.region is Region.MAINLAND), key=lambda x: x[1]
    )


@router.get("/cross-border", response_class=HTMLResponse)
def cross_border(request: Request) -> Response:
    page, caller, context = person(request)
    views = CrossBorderAuthorisations(page.services.judge).cross_border_authorisations(
        caller, subject(caller)
    )
    return page.render(
        "cross_border.html",
        views=views,
        institutions=mainland_institutions(page),
        statuses=STATUSES,
        **context,
    )


@router.post("/cross-border")
def apply_cross_border(request: Request, institution_id: Ident, csrf: CsrfField = "") -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    issued = CrossBorderAuthorisations(page.services.judge).apply_cross_border(
        caller, subject(caller), institution_id
    )
    return see_other(f"{PREFIX}/cross-border/{issued.view.authorisation.id}")


def qr_image(code: Secret[str]) -> str:
    """The code as a QR code, an SVG data URI (no request of its own)."""
    buffer = io.BytesIO()
    segno.make(code.reveal(), error="m").save(buffer, kind="svg", scale=8, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@router.get("/cross-border/{authorisation_id}", response_class=HTMLResponse)
def cross_border_one(request: Request, authorisation_id: str) -> Response:
    page, caller, context = person(request)
    use = CrossBorderAuthorisations(page.services.judge)
    whose, ident = subject(caller), authorisation_id[:80]
    view = use.cross_border_authorisation(caller, whose, ident)
    codes = []
    if view.status in ("pending", "active"):
        for kind, label in ((CodeKind.APPLICATION, APPLICATION), (CodeKind.PASSCODE, PASSCODE)):
            code = use.cross_border_code(caller, whose, ident, kind)
            codes.append((page.gettext(label), qr_image(code), code.reveal()))
    return page.render(
        "cross_border_one.html", view=view, codes=codes, statuses=STATUSES, **context
    )


@router.post("/cross-border/{authorisation_id}/revoke")
def revoke_cross_border(request: Request, authorisation_id: str, csrf: CsrfField = "") -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    ident = authorisation_id[:80]
    CrossBorderAuthorisations(page.services.judge).revoke_cross_border(
        caller, subject(caller), ident
    )
    return see_other(f"{PREFIX}/cross-border/{ident}")


# --- sharing consents (R3) ---------------------------------------------------------------


def _hong_kong(page: Page) -> list[tuple[str, str]]:
    found = page.services.policy.institutions.values()
    return sorted(
        ((i.id, i.name) for i in found if i.region is Region.HONG_KONG), key=lambda x: x[1]
    )


@router.get("/consents", response_class=HTMLResponse)
def consents(request: Request) -> Response:
    page, caller, context = person(request)
    views = SharingConsents(page.services.judge).sharing_consents(caller, subject(caller))
    return page.render("consents.html", views=views, institutions=_hong_kong(page), **context)


Kind = Annotated[ConsentKind, Form()]


@router.post("/consents")
def give_consent(
    request: Request, institution_id: Ident, kind: Kind, csrf: CsrfField = ""
) -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    scopes = [str(Source.EHR), str(Source.PERSONAL_FOLDER)]
    SharingConsents(page.services.judge).give_sharing_consent(
        caller, subject(caller), institution_id, kind, scopes
    )
    return see_other(f"{PREFIX}/consents")


@router.post("/consents/{consent_id}/{change}")
def change_consent(
    request: Request,
    consent_id: str,
    change: str,
    csrf: CsrfField = "",
    kind: Annotated[ConsentKind | None, Form()] = None,
) -> Response:
    """Renew, switch (to ``kind``) or revoke one consent."""
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    use, person, ident = SharingConsents(page.services.judge), subject(caller), consent_id[:80]
    if change == "renew":
        use.renew_sharing_consent(caller, person, ident)
    elif change == "switch" and kind is not None:
        use.switch_sharing_consent(caller, person, ident, kind)
    elif change == "revoke":
        use.revoke_sharing_consent(caller, person, ident)
    else:
        raise Problem(404, "not_found", "Not found")
    return see_other(f"{PREFIX}/consents")


# --- the access log and notifications (R11) ----------------------------------------------


@router.get("/access-log", response_class=HTMLResponse)
def access_log(request: Request) -> Response:
    page, caller, context = person(request)
    cursor = str(request.query_params.get("cursor", ""))[:200] or None
    log = Account(page.services.judge).access_log(caller, subject(caller), limit=50, cursor=cursor)
    names = professional_names(page, {e.actor_id for e in log.entries if e.institution_id})
    return page.render(
        "access_log.html",
        entries=log.entries,
        next_cursor=log.next_cursor,
        names=names,
        actions=ACTIONS,
        actors=ACTORS,
        **context,
    )


@router.get("/notifications", response_class=HTMLResponse)
def notifications(request: Request) -> Response:
    page, caller, context = person(request)
    cursor = str(request.query_params.get("cursor", ""))[:200] or None
    found = Account(page.services.judge).notifications(
        caller, subject(caller), limit=50, cursor=cursor
    )
    ids = {n.notification.actor_id for n in found.items if n.notification.actor_id}
    return page.render(
        "notifications.html",
        items=found.items,
        next_cursor=found.next_cursor,
        names=professional_names(page, ids),
        actors=ACTORS,
        **context,
    )
