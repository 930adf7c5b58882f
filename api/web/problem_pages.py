"""Under ``/app``, a problem+json answer made outside the pages' own routes — the request
limits (a file over the limit: 413 ``payload_too_large``; a wrong media type: 415; too
long a query) — is shown to a browser as the app's problem page, with the same status,
code and headers: never raw JSON in front of a person. Only for requests that ask for
HTML (a form post or a navigation: ``Accept`` names ``text/html``); the depositor page's
script uploads with ``fetch`` and reads the problem+json itself."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Message, Scope, Send

from api.problem_answers import ProblemAnswers, code_and_detail, send_instead
from api.problems import Problem
from api.web.common import PREFIX
from api.web.render import PAGE_HEADERS, Page


class ProblemPages(ProblemAnswers):
    def applies(self, scope: Scope) -> bool:
        path = str(scope["path"])
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return False
        accept = Request(scope).headers.get("accept", "")
        return "text/html" in accept

    async def reshape(self, scope: Scope, send: Send, start: Message, problem: bytes) -> None:
        code, _ = code_and_detail(problem)
        page = Page.of(Request(scope)).problem(Problem(start["status"], code, "Problem"))
        present = {k.lower() for k, _ in start["headers"]}
        extra = [
            (k.lower().encode(), v.encode())
            for k, v in PAGE_HEADERS.items()
            if k.lower().encode() not in present
        ]
        start = {**start, "headers": [*start["headers"], *extra]}
        await send_instead(send, start, bytes(page.body), "text/html; charset=utf-8")
