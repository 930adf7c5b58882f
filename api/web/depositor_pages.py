"""A radiology depositor (R5): open a deposit with the person's Authorisation code, upload
the study's DICOM files with a progress bar (resumable: the tus protocol, in
``static/upload.js``), then complete it. The uploads go through the same route functions
as ``/v1/radiology/deposits/{id}/uploads`` (:mod:`api.routes.tus`), with the caller from
the session cookie and the CSRF token in an ``X-CSRF-Token`` header; they answer
problem+json, which the script shows as a readable message."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.problems import Problem
from api.routes import tus
from api.routes.radiology import RadiologyDep
from api.web.common import PREFIX, CsrfField, checked, professional, see_other
from api.web.render import Page, WebRoute
from api.web.session import csrf_ok
from vault.access.judge import Caller

BASE = f"{PREFIX}/clinician/deposits"
router = APIRouter(prefix=BASE, route_class=WebRoute, include_in_schema=False)
uploads = APIRouter(prefix=BASE, include_in_schema=False)  # answers problem+json


@router.get("", response_class=HTMLResponse)
def deposits(request: Request) -> Response:
    page = Page.of(request)
    professional(page)
    return page.render("deposit_new.html", clinician_nav=True, mainland=True)


@router.post("")
def open_deposit(
    request: Request,
    service: RadiologyDep,
    authorisation_code: Annotated[str, Form(min_length=1, max_length=100)],
    clinical_date: Annotated[date, Form()],
    csrf: CsrfField = "",
) -> Response:
    page = Page.of(request)
    checked(page, csrf)
    receipt = service.open_deposit(professional(page), authorisation_code.strip(), clinical_date)
    return see_other(f"{BASE}/{receipt.deposit_id}")


@router.get("/{deposit_id}", response_class=HTMLResponse)
def deposit(request: Request, deposit_id: str, service: RadiologyDep) -> Response:
    page = Page.of(request)
    receipt = service.receipt(professional(page), deposit_id[:80])
    return page.render(
        "deposit.html",
        receipt=receipt,
        max_bytes=service.max_file_bytes,
        clinician_nav=True,
        mainland=True,
    )


@router.post("/{deposit_id}/complete")
def complete(
    request: Request, deposit_id: str, service: RadiologyDep, csrf: CsrfField = ""
) -> Response:
    page = Page.of(request)
    checked(page, csrf)
    service.complete(professional(page), deposit_id[:80])
    return see_other(f"{BASE}/{deposit_id[:80]}")


# --- the resumable uploads (tus), for the page's script -----------------------------------


def _uploader(request: Request, csrf: str | None) -> Caller:
    page = Page.of(request)
    if page.session is None:
        raise Problem(401, "session_expired", "Session ended")
    if not csrf_ok(page.session, csrf):
        raise Problem(403, "csrf_failed", "Forbidden")
    return professional(page)


CsrfHeader = Annotated[str | None, Header(alias="X-CSRF-Token", max_length=128)]


@uploads.post("/{deposit_id}/uploads", status_code=201, response_class=Response)
def create_upload(
    request: Request,
    deposit_id: str,
    service: RadiologyDep,
    upload: Annotated[tus.NewUpload, Depends(tus.new_upload)],
    csrf: CsrfHeader = None,
) -> Response:
    answer = tus.create_upload(deposit_id, service, _uploader(request, csrf), upload)
    location = answer.headers["Location"].replace(
        tus.UPLOADS.format(deposit_id=deposit_id), f"{BASE}/{deposit_id}/uploads"
    )
    answer.headers["Location"] = location
    return answer


@uploads.head("/{deposit_id}/uploads/{upload_id}", response_class=Response)
def upload_offset(
    request: Request,
    at: Annotated[tus.UploadAt, Depends(tus.upload_at)],
    service: RadiologyDep,
    tus_resumable: tus.TusResumable = None,
    csrf: CsrfHeader = None,
) -> Response:
    caller = _uploader(request, csrf)
    return tus.upload_offset(at.deposit_id, at.upload_id, service, caller, tus_resumable)


@uploads.patch("/{deposit_id}/uploads/{upload_id}", status_code=204, response_class=Response)
async def append(
    request: Request,
    at: Annotated[tus.UploadAt, Depends(tus.upload_at)],
    service: RadiologyDep,
    offset: Annotated[int, Depends(tus.upload_offset_of)],
    csrf: CsrfHeader = None,
) -> Response:
    caller = await run_in_threadpool(_uploader, request, csrf)
    return await tus.append_to_upload(at, request, service, caller, offset)
