"""Errors on the FHIR facade: every problem the API would answer (:mod:`api.errors`, the
one table of domain errors) becomes, under ``/fhir/r4``, an ``OperationOutcome`` with the
same status and the same stable ``code`` (``issue[0].details.coding[0].code``, system
:data:`CODE_SYSTEM`). The FHIR issue type follows from the status, here and only here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from api.problems import PROBLEM_JSON, Problem

FHIR_JSON = "application/fhir+json"
FHIR_BASE = "/fhir/r4"
CODE_SYSTEM = "https://crossvault.example/problems"

# HTTP status -> FHIR IssueType (http://hl7.org/fhir/issue-type)
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    413: "too-costly",
    415: "not-supported",
    416: "invalid",
    422: "processable",
    423: "lock-error",
    429: "throttled",
}
_KEPT_HEADERS = ("www-authenticate", "retry-after")


def outcome(status: int, code: str, detail: str | None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": ISSUE_TYPES.get(status, "exception"),
        "details": {"coding": [{"system": CODE_SYSTEM, "code": code}]},
    }
    if detail:
        issue["diagnostics"] = detail
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def fhir_response(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=FHIR_JSON,
        headers={"Cache-Control": "no-store", **headers},
    )


def unsupported(code: str, detail: str) -> Problem:
    """A request the facade does not implement (400, never silently ignored)."""
    return Problem(400, code, "Not supported", detail)


def _as_outcome(problem: Response) -> Response:
    try:
        body = json.loads(bytes(problem.body))
    except ValueError:
        body = {}
    code = str(body.get("code", "internal_error"))
    answer = fhir_response(
        outcome(problem.status_code, code, body.get("detail")), problem.status_code
    )
    for name in _KEPT_HEADERS:
        if name in problem.headers:
            answer.headers[name] = problem.headers[name]
    return answer


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _wrapped(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = await handler(request, exc)
        is_problem = answer.headers.get("content-type", "").startswith(PROBLEM_JSON)
        if request.url.path.startswith(FHIR_BASE) and is_problem:
            return _as_outcome(answer)
        return answer

    return handle


def install(app: FastAPI) -> None:
    """Wrap the API's error handlers (after :func:`api.errors.install`): same decision,
    FHIR's shape under ``/fhir/r4``."""
    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _wrapped(handler)  # type: ignore[arg-type]
