"""The one place that maps errors to RFC 9457 ``application/problem+json``.

Every 4xx/5xx the API sends — domain errors, validation errors, unknown routes, wrong
methods, oversized bodies, unexpected failures — goes through here and carries a stable
``code``. No stack trace, no input echo, no plaintext ever reaches a body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from vault.core.errors import (
    DecryptionFailed,
    Denied,
    KeyringError,
    NotFound,
    PersonErased,
    VaultError,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("crossvault.api")


class Problem(Exception):
    """Raise anywhere in ``api``: becomes a problem+json response."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(title)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers = headers
        self.extra = extra


def not_found() -> Problem:
    """The single 404 for "does not exist" *and* "you may not see it" (R10)."""
    return Problem(404, "not_found", "Not found", "No such resource.")


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://crossvault.example/problems/{problem.code}",
        "title": problem.title,
        "status": problem.status,
        "code": problem.code,
    }
    if problem.detail:
        body["detail"] = problem.detail
    body.update(problem.extra)
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    411: ("length_required", "Length required"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    416: ("range_not_satisfiable", "Range not satisfiable"),
    422: ("validation_failed", "Validation failed"),
    423: ("locked", "Locked"),
    429: ("too_many_requests", "Too many requests"),
}


def _from_http_exception(exc: StarletteHTTPException) -> Problem:
    if exc.status_code == 404:
        return not_found()
    code, title = _STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    headers = dict(exc.headers) if exc.headers else None
    return Problem(exc.status_code, code, title, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and what, never the offending input (it may be health data)."""
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "type": error.get("type"),
            "msg": error.get("msg"),
        }
        for error in exc.errors()
    ]


def _from_vault_error(exc: VaultError) -> Problem:
    if isinstance(exc, NotFound | PersonErased):
        return not_found()
    if isinstance(exc, DecryptionFailed):
        return Problem(
            500,
            exc.code,
            "Integrity failure",
            "Stored data failed its integrity check; nothing was disclosed.",
        )
    if isinstance(exc, Denied):
        return Problem(403, "forbidden", "Forbidden", "This action is not permitted.")
    if isinstance(exc, KeyringError):
        return Problem(503, exc.code, "Keyring unavailable")
    return Problem(500, exc.code, "Vault error")


class ProblemDetails(BaseModel):
    """The body of every 4xx/5xx answer (RFC 9457), as documented in OpenAPI. Problems
    may carry more members (``errors``, ``max_bytes``, ...)."""

    model_config = ConfigDict(
        title="Problem",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://crossvault.example/problems/not_found",
                    "title": "Not found",
                    "status": 404,
                    "code": "not_found",
                    "detail": "No such resource.",
                }
            ]
        },
    )
    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
# FastAPI(responses=PROBLEM_RESPONSES): every operation documents its errors as problems
# (and FastAPI then adds no 422 "HTTPValidationError" of its own).
_PROBLEM = {"description": "A problem (RFC 9457) with a stable `code`", "content": _PROBLEM_CONTENT}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {"4XX": _PROBLEM, "5XX": _PROBLEM}


def _document_problems(app: FastAPI) -> None:
    """Adds the ``Problem`` schema that :data:`PROBLEM_RESPONSES` refers to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = generate().setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = ProblemDetails.model_json_schema()
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _route_of(request: Request) -> str:
    """The route template (``/v1/me/records/{record_id}/content``), as every other log
    line names it — never the path with its identifiers."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(no route)"


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem_response(_from_http_exception(exc))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            Problem(
                422,
                "validation_failed",
                "Validation failed",
                "The request does not match the schema.",
                errors=_validation_errors(exc),
            )
        )

    async def on_vault(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VaultError)
        return problem_response(_from_vault_error(exc))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error %s on %s %s", type(exc).__name__, request.method, _route_of(request)
        )
        return problem_response(Problem(500, "internal_error", "Internal error"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(VaultError, on_vault)
    app.add_exception_handler(Exception, on_unexpected)
    _document_problems(app)
