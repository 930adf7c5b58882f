"""The Personal Folder (R6) and the radiology Authorisation QR code (R5): the person files
a record from treatment outside Hong Kong, and lets a designated radiology depositor file
one visit's study. The same use-cases as ``/v1/me/folder`` and
``/v1/me/radiology-authorisations``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from api.problems import Problem
from api.web.common import PREFIX, CsrfField, checked, citizen, see_other, subject
from api.web.messages import CATEGORIES, STATUSES
from api.web.person_pages import mainland_institutions, person, qr_image
from api.web.records_view import FILE_SIGNATURES
from api.web.render import Page, WebRoute
from policies.vocabulary import Action, Category, Source
from vault.radiology.authorisations import RadiologyAuthorisations
from vault.records.sealed import NewRecord

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)
# characters of typed text: the API's RecordCreate takes 1,000,000, but a multipart text
# part is limited to 1 MiB (Starlette), and 300,000 characters of Chinese fit in it
MAX_CONTENT = 300_000


@router.get("/folder", response_class=HTMLResponse)
def folder(request: Request) -> Response:
    page, _, context = person(request)
    return page.render("folder.html", categories=CATEGORIES, max_content=MAX_CONTENT, **context)


MAX_FILE = 4 * 1024 * 1024  # bytes; the request limit (api.limits) is a little above


class FolderForm(BaseModel):
    """The folder form: what ``POST /v1/me/folder`` takes (text content), plus the CSRF;
    a file, when one is chosen, is the content instead."""

    category: Category
    clinical_date: date
    title: str = Field(min_length=1, max_length=500)
    content: str = Field(default="", max_length=MAX_CONTENT)
    csrf: str = Field(default="", max_length=128)


def _file_content(file: UploadFile | None) -> tuple[bytes, str] | None:
    """The chosen file's bytes and type (PDF, PNG or JPEG), ``None`` if none was chosen."""
    if file is None or not file.filename:
        return None
    data = file.file.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise Problem(413, "file_too_large", "File too large")
    for magic, media_type in FILE_SIGNATURES:
        if data.startswith(magic):
            return data, media_type
    raise Problem(415, "unsupported_file", "Unsupported file")


@router.post("/folder")
def add_to_folder(
    request: Request,
    form: Annotated[FolderForm, Form()],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """File a record into the Personal Folder (audited ``add_to_folder``): the typed text,
    or the chosen file."""
    page = Page.of(request)
    checked(page, form.csrf)
    caller = citizen(page)
    if not form.title.strip():
        raise Problem(422, "validation_failed", "Invalid")
    chosen = _file_content(file)
    if chosen is not None and form.content.strip():
        raise Problem(422, "file_or_text", "A file or typed text")
    content, content_type = chosen or (form.content.encode(), "text/plain")
    new = NewRecord(
        category=str(form.category),
        source=str(Source.PERSONAL_FOLDER),
        clinical_date=form.clinical_date,
        title=form.title.strip(),
        content=content,
        content_type=content_type,
    )
    stored = page.services.records.deposit(caller, subject(caller), new, Action.ADD_TO_FOLDER)
    return see_other(f"{PREFIX}/records/{stored.id}")


# --- the radiology Authorisation QR code (R5) -------------------------------------------


@router.get("/radiology", response_class=HTMLResponse)
def radiology(request: Request) -> Response:
    page, caller, context = person(request)
    views = RadiologyAuthorisations(page.services.judge).radiology_authorisations(
        caller, subject(caller)
    )
    return page.render(
        "radiology.html",
        views=views,
        institutions=mainland_institutions(page),
        statuses=STATUSES,
        **context,
    )


@router.post("/radiology")
def grant_radiology(
    request: Request,
    institution_id: Annotated[str, Form(min_length=1, max_length=80)],
    csrf: CsrfField = "",
) -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    issued = RadiologyAuthorisations(page.services.judge).grant_radiology(
        caller, subject(caller), institution_id
    )
    return see_other(f"{PREFIX}/radiology/{issued.view.authorisation.id}")


@router.get("/radiology/{authorisation_id}", response_class=HTMLResponse)
def radiology_one(request: Request, authorisation_id: str) -> Response:
    page, caller, context = person(request)
    use, whose, ident = (
        RadiologyAuthorisations(page.services.judge),
        subject(caller),
        authorisation_id[:80],
    )
    view = use.radiology_authorisation(caller, whose, ident)
    code = None
    if view.status == "active":
        secret = use.radiology_code(caller, whose, ident)
        code = (qr_image(secret), secret.reveal())
    return page.render("radiology_one.html", view=view, code=code, statuses=STATUSES, **context)


@router.post("/radiology/{authorisation_id}/revoke")
def revoke_radiology(request: Request, authorisation_id: str, csrf: CsrfField = "") -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = citizen(page)
    ident = authorisation_id[:80]
    RadiologyAuthorisations(page.services.judge).revoke_radiology(caller, subject(caller), ident)
    return see_other(f"{PREFIX}/radiology/{ident}")
