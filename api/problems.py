"""RFC 9457 ``application/problem+json``: the :class:`Problem` every 4xx/5xx answer is,
its documented schema, and the canonical 404 (R10). Which domain error becomes which
problem is decided in one place, :mod:`api.errors`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

PROBLEM_JSON = "application/problem+json"


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
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    headers.update(problem.headers or {})
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


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


def document_problems(app: FastAPI) -> None:
    """Adds the ``Problem`` schema that :data:`PROBLEM_RESPONSES` refers to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = generate().setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = ProblemDetails.model_json_schema()
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
