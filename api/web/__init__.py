"""The consent web app at ``/app`` (issue 19): server-rendered pages (Jinja + htmx, no
build step) on the same use-cases as the REST API. ``install(app)`` adds it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from api.problems import Problem
from api.web import (
    auth_pages,
    caregiver_pages,
    clinician_pages,
    depositor_pages,
    folder_pages,
    person_pages,
)
from api.web.problem_pages import ProblemPages
from api.web.render import Page, WebRoute
from vault.seeding import demo

STATIC = Path(__file__).parent / "static"
_fallback = APIRouter(route_class=WebRoute, include_in_schema=False)


@_fallback.api_route("/app/{rest:path}", methods=["GET", "POST"], response_class=HTMLResponse)
def no_such_page(request: Request, rest: str) -> Response:
    """Any other path under ``/app``: the app's own not-found page."""
    return Page.of(request).problem(Problem(404, "not_found", "Not found"))


def install(app: FastAPI) -> None:
    app.mount("/app/static", StaticFiles(directory=STATIC), name="web-static")
    pages = (auth_pages, person_pages, folder_pages, caregiver_pages, depositor_pages)
    for module in (*pages, clinician_pages):
        app.include_router(module.router)
    app.include_router(depositor_pages.uploads)
    app.include_router(_fallback)
    app.add_middleware(ProblemPages)  # outermost: the limits' refusals, as pages


def banner(host: str, port: int, demo_mode: bool) -> str:
    """What ``crossvault serve`` prints: the app's address and, in demo mode, the logins."""
    lines = [f"crossvault: the web app is at http://{host}:{port}/app"]
    if demo_mode:
        people = ", ".join(f"{p.id} / {p.password}" for p in demo.PEOPLE)
        lines.append(f"  people (username / password): {people}")
        for d in demo.PROFESSIONALS:
            client_id, secret = demo.CREDENTIALS[d.institution_id]
            lines.append(
                f"  {d.name} ({d.institution_id}): client {client_id} / {secret}, "
                f"professional id {d.id}"
            )
    return "\n".join(lines)
