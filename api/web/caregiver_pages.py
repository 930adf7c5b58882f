"""Caregivers (R2): the person appoints and revokes them (``/v1/me/caregivers``' use-case);
a caregiver chooses whom they act for (:mod:`api.web.auth_pages`) and sees a banner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.web.common import PREFIX, CsrfField, checked, citizen, see_other, subject
from api.web.person_pages import person
from api.web.render import Page, WebRoute
from vault.account.caregivers import Caregivers

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)


@router.get("/caregivers", response_class=HTMLResponse)
def caregivers(request: Request) -> Response:
    page, caller, context = person(request)
    views = Caregivers(page.services.judge).delegations(caller, subject(caller))
    return page.render("caregivers.html", views=views, **context)


@router.post("/caregivers")
def appoint(
    request: Request,
    caregiver_id: Annotated[str, Form(min_length=1, max_length=40)],
    csrf: CsrfField = "",
) -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    Caregivers(page.services.judge).appoint(caller, subject(caller), caregiver_id.strip())
    return see_other(f"{PREFIX}/caregivers")


@router.post("/caregivers/{delegation_id}/revoke")
def revoke(request: Request, delegation_id: str, csrf: CsrfField = "") -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    Caregivers(page.services.judge).revoke(caller, subject(caller), delegation_id[:80])
    return see_other(f"{PREFIX}/caregivers")
