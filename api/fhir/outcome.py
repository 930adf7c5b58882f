"""Errors on the FHIR facade: every problem the API would answer (:mod:`api.errors`, the
one table of domain errors, and the request limits of :mod:`api.limits`) becomes, under
``/fhir/r4``, an ``OperationOutcome`` with the same status, headers and stable ``code``
(``issue[0].details.coding[0].code``, system :data:`CODE_SYSTEM`). The FHIR issue type
follows from the status, here and only here.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Message, Scope, Send

from api.problem_answers import ProblemAnswers, code_and_detail, send_instead
from api.problems import Problem

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


def _outcome_bytes(problem: bytes, status: int) -> bytes:
    shaped = outcome(status, *code_and_detail(problem))
    return json.dumps(shaped, separators=(",", ":")).encode()


class FhirOutcomes(ProblemAnswers):
    """Outermost middleware: under ``/fhir/r4`` every problem+json answer — from a route,
    an error handler or the request limits (413, 415, too long a query) — leaves as an
    ``OperationOutcome`` with the same status, code and headers."""

    def applies(self, scope: Scope) -> bool:
        return str(scope["path"]).startswith(FHIR_BASE)

    async def reshape(self, scope: Scope, send: Send, start: Message, problem: bytes) -> None:
        await send_instead(send, start, _outcome_bytes(problem, start["status"]), FHIR_JSON)


def install(app: FastAPI) -> None:
    """Call last (outermost): the same answers, FHIR's shape under ``/fhir/r4``."""
    app.add_middleware(FhirOutcomes)
