"""Logging in and out, the language switch, and the caregiver's "acting for" choice.

Logins go through the API's own token endpoint function (:func:`api.routes.auth.token`):
the same credentials checks, the same throttling per account and per address, the same
audited ``log_in`` decisions. The token it issues is what the session cookie holds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.errors import problem_for
from api.problems import Problem
from api.routes.auth import TokenForm, token
from api.web import session as cookies
from api.web.common import PREFIX, CsrfField, checked, safe_next, see_other
from api.web.i18n import BY_CODE
from api.web.messages import message_for
from api.web.render import Page, WebRoute
from vault.core.errors import VaultError

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)

Short = Annotated[str, Form(max_length=64)]
Secret_ = Annotated[str, Form(max_length=256)]


@router.get("", response_class=HTMLResponse)
def home(request: Request) -> Response:
    page = Page.of(request)
    if page.session is None:
        return see_other(f"{PREFIX}/login")
    if page.session.claims.role == "citizen":
        return see_other(f"{PREFIX}/records")
    return see_other(f"{PREFIX}/clinician")


def _login_page(page: Page, tab: str, status: int = 200, code: str | None = None) -> Response:
    value = cookies.login_csrf(page.request)
    message = page.gettext(message_for(code)) if code else None
    response = page.render("login.html", status, login_csrf=value, tab=tab, message=message)
    cookies.keep_login_csrf(page.request, response, value)
    return response


@router.get("/login", response_class=HTMLResponse)
def login(request: Request, tab: str = "person") -> Response:
    page = Page.of(request)
    return _login_page(page, "clinician" if tab == "clinician" else "person")


def _logged_in(page: Page, form: TokenForm, tab: str, csrf: str) -> Response:
    if not cookies.login_csrf_ok(page.request, csrf):
        return _login_page(page, tab, 403, "csrf_failed")
    try:
        issued = token(page.request, page.services, form)
    except VaultError as error:  # a refused or throttled login, as the API answers it
        return _refused(page, tab, problem_for(error, page.services.vault.clock.now()))
    except Problem as refused:
        return _refused(page, tab, refused)
    response = see_other(PREFIX)
    cookies.start(page.request, response, issued.access_token, issued.expires_in)
    return response


def _refused(page: Page, tab: str, refused: Problem) -> Response:
    response = _login_page(page, tab, refused.status, refused.code)
    retry = (refused.headers or {}).get("Retry-After")
    if retry:
        response.headers["Retry-After"] = retry
    return response


@router.post("/login/person", response_class=HTMLResponse)
def login_person(
    request: Request, username: Short, password: Secret_, csrf: CsrfField = ""
) -> Response:
    form = TokenForm(grant_type="password", username=username.strip(), password=password)
    return _logged_in(Page.of(request), form, "person", csrf)


@router.post("/login/clinician", response_class=HTMLResponse)
def login_clinician(
    request: Request,
    client_id: Short,
    client_secret: Secret_,
    professional_id: Short,
    csrf: CsrfField = "",
) -> Response:
    form = TokenForm(
        grant_type="client_credentials",
        client_id=client_id.strip(),
        client_secret=client_secret,
        professional_id=professional_id.strip(),
    )
    return _logged_in(Page.of(request), form, "clinician", csrf)


@router.post("/logout")
def logout(request: Request, csrf: CsrfField = "") -> Response:
    checked(Page.of(request), csrf)
    response = see_other(f"{PREFIX}/login")
    cookies.end(request, response)
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str | None = None) -> Response:
    """Remember the language in a cookie and go back (only to a page of this app)."""
    response: Response = RedirectResponse(safe_next(next), status_code=303)
    if code in BY_CODE:
        cookies.remember_language(request, response, code)
    return response


@router.post("/acting")
def acting_for(
    request: Request,
    person_id: Annotated[str, Form(max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """A caregiver chooses whom they act for (empty: themselves). Whether they may is
    decided by the use-cases on every page, as for ``On-Behalf-Of``."""
    session = checked(Page.of(request), csrf)
    response = see_other(f"{PREFIX}/records")
    chosen = person_id.strip()
    cookies.act_for(request, response, None if chosen == session.claims.subject else chosen)
    return response
