"""The one place that maps errors to RFC 9457 ``application/problem+json``.

Every 4xx/5xx the API sends — domain errors, validation errors, unknown routes, wrong
methods, oversized bodies, unexpected failures — goes through here and carries a stable
``code``. No stack trace, no input echo, no plaintext ever reaches a body.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.problems import Problem, document_problems, not_found, problem_response
from policies.vocabulary import Action, Reason
from vault.access.paging import InvalidCursor
from vault.access.throttles import LockedOut
from vault.access.usecase import Conflict, Refused, Unusable
from vault.audit.checkpoints import CheckpointBusy
from vault.core.errors import (
    DecryptionFailed,
    Denied,
    KeyringError,
    NotFound,
    PersonErased,
    VaultError,
)
from vault.cross_border.sessions import InvalidCodes, SessionRefused
from vault.emergency.break_glass import BreakGlassRefused
from vault.radiology.dicom import DicomProblem
from vault.radiology.ingest import ContentProblem, FileTooLarge
from vault.radiology.qido import InvalidSearch
from vault.radiology.refusals import RadiologyRefused
from vault.radiology.uploads import UploadBusy, UploadTooLong
from vault.registry.logins import LoginRefused, LoginThrottled
from vault.registry.onboarding import FourEyes
from vault.restricted.requests import AlreadyConfirmed, InvalidOtp, OtpExpired

log = logging.getLogger("crossvault.api")


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


def validation_failed(errors: list[dict[str, Any]]) -> Problem:
    """A request that does not match the schema: where and what (see above)."""
    return Problem(
        422,
        "validation_failed",
        "Validation failed",
        "The request does not match the schema.",
        errors=errors,
    )


# --- domain errors: one table ------------------------------------------------------------
#
# Every error the vault raises on purpose becomes its answer here, and only here: the one
# handler below looks the error's class up (most specific class first) and builds the
# problem. Routes never catch domain errors to build problems of their own.

Answer = Callable[[VaultError, datetime], Problem]


def answer(
    status: int, title: str, detail: str | None = None, *, code: str | None = None
) -> Answer:
    """A fixed answer. ``code`` defaults to the error's own; ``detail`` to the error's
    message (:data:`NO_DETAIL`: none)."""

    def build(exc: VaultError, now: datetime) -> Problem:
        said = str(exc) if detail is None else (detail or None)
        return Problem(status, code or str(exc.code), title, said)

    return build


NO_DETAIL = ""


def _not_found(exc: VaultError, now: datetime) -> Problem:
    return not_found()


def _locked_out(exc: VaultError, now: datetime) -> Problem:
    """Every lock-out: 423, with ``Retry-After`` while the lock has an end (a secret locked
    for good has none: the person must issue a new one)."""
    assert isinstance(exc, LockedOut)
    headers = None
    if exc.until is not None:
        headers = {"Retry-After": str(max(1, math.ceil((exc.until - now).total_seconds())))}
    return Problem(423, "locked_out", "Locked out", str(exc), headers=headers)


def _login_throttled(exc: VaultError, now: datetime) -> Problem:
    """Too many failed logins: 429, whether or not the account exists."""
    assert isinstance(exc, LoginThrottled)
    wait = max(1, math.ceil((exc.until - now).total_seconds()))
    return Problem(429, exc.code, "Too many attempts", str(exc), headers={"Retry-After": str(wait)})


def _file_too_large(exc: VaultError, now: datetime) -> Problem:
    assert isinstance(exc, FileTooLarge)
    detail = f"Files are limited to {exc.limit} bytes."
    return Problem(413, "payload_too_large", "Payload too large", detail, max_bytes=exc.limit)


_TITLES = {
    400: "Bad request",
    403: "Forbidden",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    423: "Locked",
}
# The status of each radiology refusal, by the error's stable ``code``.
RADIOLOGY_STATUS = {
    "invalid_authorisation_code": 403,
    "authorisation_expired": 403,
    "authorisation_revoked": 403,
    "authorisation_used": 409,
    "not_radiology_depositor": 403,
    "deposit_not_permitted": 403,
    "deposit_completed": 409,
    "deposit_expired": 410,
    "invalid_file_name": 400,
    "unsupported_media_type": 415,
    "file_exists": 409,
    "empty_deposit": 409,
    "uploads_in_progress": 409,
    "upload_offset_mismatch": 409,
    "upload_busy": 423,
    "upload_too_long": 413,
    "upload_complete": 409,
    "study_mismatch": 422,
    # what a file holds
    "not_dicom": 415,
    "unsupported_transfer_syntax": 415,
    "not_pdf": 415,
    "not_utf8_text": 415,
    "dicom_truncated": 422,
    "dicom_invalid": 422,
    "patient_mismatch": 422,
    "pdf_truncated": 422,
    "empty_file": 422,
}


def _file_refused(exc: VaultError, now: datetime) -> Problem:
    status = RADIOLOGY_STATUS.get(str(exc.code), 422)
    return Problem(status, str(exc.code), _TITLES.get(status, "Refused"), str(exc))


_SESSION_REFUSALS = {
    Reason.NOT_DESIGNATED: ("not_designated", "Your institution is not designated today."),
    Reason.AUTHORISATION_PENDING: (
        "authorisation_pending",
        "The person's application is still being processed.",
    ),
}
_SESSION_INACTIVE = (
    "authorisation_inactive",
    "The authorisation is no longer active; the person must apply again.",
)


def _session_refused(exc: VaultError, now: datetime) -> Problem:
    assert isinstance(exc, SessionRefused)
    code, detail = _SESSION_REFUSALS.get(exc.reason, _SESSION_INACTIVE)
    return Problem(403, code, "Session refused", detail)


@dataclass(frozen=True)
class _Refusal:
    status: int
    code: str
    title: str
    detail: str
    tell_reason: bool = False  # the reason concerns only the person (or the public registry)


_NOT_MAINLAND = _Refusal(
    422,
    "not_a_mainland_institution",
    "Not a Mainland institution",
    "This authorisation is for designated Mainland institutions only.",
)


def _cross_border_refused(detail: str) -> _Refusal:
    return _Refusal(403, "cross_border_not_permitted", "Application refused", detail, True)


# A refusal on the person's own account: (action, reason) -> answer; action None: any
# action. Unlisted: a plain 403 "forbidden".
ACCOUNT_REFUSALS: dict[tuple[str | None, Reason], _Refusal] = {
    (None, Reason.UNKNOWN_INSTITUTION): _Refusal(
        422, "unknown_institution", "Unknown institution", "No institution has that id."
    ),
    (Action.GRANT_SHARING_CONSENT, Reason.WRONG_REGION): _Refusal(
        422,
        "not_a_hong_kong_institution",
        "Not a Hong Kong institution",
        "Sharing consent is given to Hong Kong institutions only.",
    ),
    (Action.APPLY_CROSS_BORDER, Reason.WRONG_REGION): _NOT_MAINLAND,
    (Action.GRANT_RADIOLOGY_AUTHORISATION, Reason.WRONG_REGION): _NOT_MAINLAND,
    (None, Reason.DELEGATION_CANNOT_DELEGATE): _Refusal(
        403,
        "caregiver_cannot_delegate",
        "Forbidden",
        "A caregiver cannot manage the person's caregivers.",
    ),
    (Action.APPLY_CROSS_BORDER, Reason.NOT_DESIGNATED): _cross_border_refused(
        "The institution is not designated for the cross-border record today."
    ),
    (Action.APPLY_CROSS_BORDER, Reason.NOT_JOINED): _cross_border_refused(
        "The cross-border record needs an eHealth account that has joined."
    ),
    (Action.APPLY_CROSS_BORDER, Reason.NOT_ELIGIBLE): _cross_border_refused(
        "On today's rules this person is not eligible (age) to apply."
    ),
    (Action.GRANT_RADIOLOGY_AUTHORISATION, Reason.NOT_RADIOLOGY_DEPOSITOR): _Refusal(
        403,
        "radiology_authorisation_not_permitted",
        "Not a radiology depositor",
        "The institution is not a designated radiology depositor today.",
        True,
    ),
}
_FORBIDDEN = _Refusal(403, "forbidden", "Forbidden", "This action is not permitted.")


def _refused(exc: VaultError, now: datetime) -> Problem:
    assert isinstance(exc, Refused)
    refusal = (
        ACCOUNT_REFUSALS.get((exc.action, exc.reason))
        or ACCOUNT_REFUSALS.get((None, exc.reason))
        or _FORBIDDEN
    )
    problem = Problem(refusal.status, refusal.code, refusal.title, refusal.detail)
    if refusal.tell_reason:
        problem.extra["reason"] = str(exc.reason)
    return problem


_BREAK_GLASS = {
    "break_glass_disabled": "The policy in force has no emergency (break-glass) access.",
    "break_glass_not_permitted": "Your profession may not use emergency access.",
    "justification_too_short": "State the emergency at the length the policy asks for.",
}


def _break_glass_refused(exc: VaultError, now: datetime) -> Problem:
    code = str(exc.code)
    return Problem(403, code, "Break-glass refused", _BREAK_GLASS.get(code))


_INTEGRITY = "Stored data failed its integrity check; nothing was disclosed."
_CURSOR = "next_cursor values must be passed back unchanged."

# Error class -> answer. Looked up along the error's MRO, so a subclass may have its own
# row and otherwise takes its base's.
ANSWERS: dict[type[VaultError], Answer] = {
    NotFound: _not_found,
    PersonErased: _not_found,
    DecryptionFailed: answer(500, "Integrity failure", _INTEGRITY),
    Refused: _refused,
    FourEyes: answer(403, "Four eyes required", "Another operator must approve a proposal."),
    BreakGlassRefused: _break_glass_refused,
    LoginRefused: answer(400, "Invalid credentials", "The credentials were not accepted."),
    LoginThrottled: _login_throttled,
    Denied: answer(403, "Forbidden", "This action is not permitted.", code="forbidden"),
    KeyringError: answer(503, "Keyring unavailable", NO_DETAIL),
    Conflict: answer(409, "Conflict"),
    CheckpointBusy: answer(409, "Checkpoint busy"),
    Unusable: answer(422, "Unusable request"),
    InvalidCursor: answer(400, "Invalid cursor", _CURSOR),
    InvalidSearch: answer(400, "Invalid search"),  # QIDO-RS: the code names what
    LockedOut: _locked_out,
    InvalidCodes: answer(
        400, "Invalid codes", "The application code and passcode were not accepted."
    ),
    SessionRefused: _session_refused,
    InvalidOtp: answer(400, "Invalid one-time password", "The one-time password was not accepted."),
    OtpExpired: answer(
        400,
        "One-time password expired",
        "The one-time password has expired; request access again.",
    ),
    AlreadyConfirmed: answer(409, "Already confirmed", "This request was already confirmed."),
    FileTooLarge: _file_too_large,
    RadiologyRefused: _file_refused,
    DicomProblem: _file_refused,
    ContentProblem: _file_refused,
    UploadBusy: _file_refused,
    UploadTooLong: _file_refused,
}
# Refusals of one file of a deposit (a STOW-RS instance is listed as failed, not answered).
FILE_REFUSALS = (
    RadiologyRefused,
    DicomProblem,
    ContentProblem,
    UploadBusy,
    UploadTooLong,
    FileTooLarge,
    LockedOut,
)


def problem_for(exc: VaultError, now: datetime) -> Problem:
    """The answer for ``exc`` (see :data:`ANSWERS`); an error no row names is a 500."""
    for kind in type(exc).__mro__:
        build = ANSWERS.get(kind)
        if build is not None:
            return build(exc, now)
    return Problem(500, str(exc.code), "Vault error")


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
        return problem_response(validation_failed(_validation_errors(exc)))

    async def on_vault(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VaultError)
        return problem_response(problem_for(exc, request.app.state.services.vault.clock.now()))

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
    document_problems(app)
