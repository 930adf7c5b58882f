"""What every page handler shares: who is signed in (as the API's guards see them), the
CSRF check, redirects, and the router's path prefix."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from fastapi.responses import RedirectResponse
from sqlmodel import col, select

from api.deps import professional_caller
from api.problems import Problem
from api.web.render import Page
from api.web.session import WebSession, csrf_ok
from policies.model import Actor
from vault.access.judge import Caller
from vault.store.engine import reading
from vault.store.tables import Professional

PREFIX = "/app"
CsrfField = Annotated[str, Form(max_length=128)]


def signed_in(page: Page) -> WebSession:
    if page.session is None:
        raise Problem(401, "session_expired", "Session ended")
    return page.session


def checked(page: Page, csrf: str) -> WebSession:
    """The session, if the form's CSRF token is this session's (before anything runs)."""
    session = signed_in(page)
    if not csrf_ok(session, csrf):
        raise Problem(403, "csrf_failed", "Forbidden")
    return session


def citizen(page: Page) -> Caller:
    """As :func:`api.deps.citizen_caller`: a citizen, or a caregiver acting for someone."""
    session = signed_in(page)
    claims = session.claims
    if claims.role != "citizen":
        raise Problem(403, "wrong_role", "Forbidden")
    if session.acting_for and session.acting_for != claims.subject:
        return Caller(Actor.caregiver(claims.subject), acting_for=session.acting_for)
    return Caller(Actor.citizen(claims.subject))


def subject(caller: Caller) -> str:
    return caller.acting_for or caller.actor.person_id or ""


def professional(page: Page) -> Caller:
    """The API's own guard: the professional is read (suspension) on every page."""
    return professional_caller(page.request, page.services, signed_in(page).claims)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def safe_next(value: str | None) -> str:
    """Only a path inside the app (never another site)."""
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX


def professional_names(page: Page, ids: set[str]) -> dict[str, str]:
    """Names of professionals (the registry's directory, not health data)."""
    if not ids:
        return {}
    with reading(page.services.vault.engine) as session:
        rows = session.exec(
            select(Professional.id, Professional.name).where(col(Professional.id).in_(ids))
        )
        return {pid: name for pid, name in rows}
