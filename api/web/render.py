"""Rendering pages: one Jinja environment, the page headers (a strict CSP), and the one
place where an error becomes a readable page.

Every error a page's use-case raises is first mapped by the API's own table
(:func:`api.errors.problem_for`): the page shows the same status and the same stable
``code`` as its REST twin, with a translated message instead of problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape

from api.errors import problem_for
from api.problems import Problem
from api.services import Services
from api.web import i18n, messages
from api.web.session import LANG_COOKIE, WebSession, current
from vault.core.errors import VaultError

log = logging.getLogger("crossvault.web")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

ENV = Environment(
    loader=PackageLoader("api.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@dataclass
class Page:
    """What every template gets: the request's language, session and helpers."""

    request: Request
    services: Services
    session: WebSession | None
    lang: i18n.Language
    context: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request) -> Page:
        services = services_of(request)
        lang = i18n.language(request.cookies.get(LANG_COOKIE))
        return cls(request, services, current(request, services), lang)

    def gettext(self, message: str) -> str:
        return i18n.translations(self.lang.code).gettext(message)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        _ = self.gettext
        html = ENV.get_template(template).render(
            _=_,
            page=self,
            lang=self.lang,
            languages=i18n.LANGUAGES,
            session=self.session,
            csrf=self.session.csrf if self.session else context.pop("login_csrf", ""),
            path=self.request.url.path if self.request.method == "GET" else "/app",
            when=lambda v: i18n.hk_datetime(v, self.lang),
            day=lambda v: i18n.hk_date(v, self.lang),
            institution=self.institution_name,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def institution_name(self, institution_id: str | None) -> str:
        if not institution_id:
            return ""
        found = self.services.policy.institutions.get(institution_id)
        return found.name if found is not None else institution_id

    def problem(self, problem: Problem) -> HTMLResponse:
        """The page for an answer the REST API would give as problem+json."""
        headers = {k: v for k, v in (problem.headers or {}).items() if k == "Retry-After"}
        response = self.render(
            "problem.html",
            status=problem.status,
            code=problem.code,
            message=self.gettext(messages.message_for(problem.code)),
            retry_after=headers.get("Retry-After"),
        )
        response.headers.update(headers)
        return response


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class WebRoute(APIRoute):
    """A page route: errors become pages (never problem+json, never a stack trace)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def page_or_problem(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as problem:
                return Page.of(request).problem(problem)
            except VaultError as error:
                services = services_of(request)
                return Page.of(request).problem(problem_for(error, services.vault.clock.now()))
            except RequestValidationError:
                return Page.of(request).problem(Problem(422, "validation_failed", "Invalid"))

        return page_or_problem
