"""Operations: request ids, JSON access logs, Prometheus metrics, health and readiness.

:func:`install` adds one ASGI middleware to an app; :data:`router` serves ``/healthz``
(liveness: the process answers), ``/readyz`` (readiness: the database answers and the
keyring is loaded, else 503 problem+json) and ``/metrics``.

**Request ids.** An incoming ``X-Request-Id`` is kept if it is a safe token (1 to 64 of
``A-Z a-z 0-9 . _ ~ -``), otherwise a fresh one is made; either way it is echoed in the
response's ``X-Request-Id``, is in every log line of the request, and
:func:`current_request_id` gives it to code that records it (the audit log).

**Logs.** Every ``crossvault.*`` logger writes one JSON object per line to stderr. An
access line holds the method, the *route template* (``/v1/patients/{pid}/records``, never
the path with its identifiers), the status, the duration in ms and the request id — never
a body, a query string or a header. Probes (``/healthz``, ``/readyz``, ``/metrics``) log
at DEBUG, below the default INFO, so health checks do not flood the log. Run uvicorn
with ``access_log=False``: its own access line carries the raw path and query string.

**Metrics** (Prometheus text format, ``GET /metrics``):

* ``crossvault_requests_total{method,route,status}``
* ``crossvault_request_seconds{method,route}`` (histogram)
* ``crossvault_decisions_total{reason,allowed}`` via :func:`count_decision` (the reason
  as :mod:`vault.access.shown` labels it: a refusal answered like "not found" is
  ``not_found``, whatever the audit log says)

``/metrics`` needs a credential: the operator's token, or the scrape secret
``CROSSVAULT_METRICS_TOKEN`` sent as a bearer token (for a Prometheus scraper).

**Several workers.** Each uvicorn worker is a process with its own counters, and a scrape
reaches one worker at random, so per-process numbers would jump between workers'
values. With ``PROMETHEUS_MULTIPROC_DIR`` set (to an empty directory, in the environment
*before* the workers start: ``prometheus_client`` reads it at import), every worker
writes its samples to files there and ``/metrics`` sums all workers' files
(``prometheus_client``'s multiprocess mode). The container image sets it and empties the
directory at start; set it yourself for ``crossvault serve --workers N`` outside it.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import os
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, FastAPI, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import Problem, problem_response
from api.security import BEARER, OPERATOR
from api.tokens import InvalidToken
from vault.runtime.opening import Vault

REQUEST_ID_HEADER = "X-Request-Id"
UNMATCHED_ROUTE = "<unmatched>"
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")

access_log = logging.getLogger("crossvault.access")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "crossvault_request_id", default=None
)

# -- metrics ------------------------------------------------------------------------------

# No ``*_created`` series: they would double the output and say nothing useful here.
disable_created_metrics()  # type: ignore[no-untyped-call]
_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "crossvault_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=_REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "crossvault_request_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    registry=_REGISTRY,
)
DECISIONS = Counter(
    "crossvault_decisions",
    "Access decisions about a person's data, by stable reason code and outcome.",
    ["reason", "allowed"],
    registry=_REGISTRY,
)


def count_decision(reason: str, allowed: bool) -> None:
    """Count one access decision (call once per decision, where it is audited)."""
    DECISIONS.labels(reason=reason, allowed="true" if allowed else "false").inc()


def exposition() -> bytes:
    """All metrics in Prometheus text format: every worker's, in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(_REGISTRY)


# -- request ids and logs -----------------------------------------------------------------


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _request_id.get()


def accepted_request_id(value: str | None) -> str:
    """``value`` if it is a safe token of at most 64 characters, else a fresh id."""
    if value is not None and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return secrets.token_hex(16)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request id in
    context, and the record's ``fields`` (``extra={"fields": {...}}``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__  # the type only: no values
        return json.dumps(entry, default=str)


class _StderrHandler(logging.Handler):
    """Writes each record as one line to whatever ``sys.stderr`` is at the time (as
    ``logging.lastResort`` does), so a redirected or captured stderr gets it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Send every ``crossvault.*`` logger to stderr as JSON lines (idempotent)."""
    root = logging.getLogger("crossvault")
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonLogFormatter())
        root.addHandler(handler)
    root.setLevel(level)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class ObservabilityMiddleware:
    """Request id, access log line and request metrics for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(_header(scope, REQUEST_ID_HEADER.lower().encode()))
        scope.setdefault("state", {})["request_id"] = request_id
        token = _request_id.set(request_id)
        status = 500  # if the app raises before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if key.lower() != REQUEST_ID_HEADER.lower().encode()
                ]
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            _request_id.reset(token)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method, route = str(scope["method"]), _route_template(scope)
        REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        REQUEST_SECONDS.labels(method=method, route=route).observe(seconds)
        access_log.log(
            logging.DEBUG if route in PROBE_ROUTES else logging.INFO,
            "request",
            extra={
                "fields": {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                }
            },
        )


def install(app: FastAPI) -> None:
    """Add request ids, JSON access logs and request metrics to ``app``. Include
    :data:`router` too for ``/healthz``, ``/readyz`` and ``/metrics``."""
    configure_logging()
    app.add_middleware(ObservabilityMiddleware)


# -- probes -------------------------------------------------------------------------------

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
router = APIRouter(
    tags=["operations"],
    responses={500: {"description": "Unexpected failure (problem+json)", **_PROBLEM}},
)


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and the keyring is loaded",
    responses={503: {"description": "Not ready: problem+json naming what is missing", **_PROBLEM}},
)
def readyz(request: Request) -> Response:
    vault = _vault_of(request.app)
    missing = []
    if vault is None or not _keyring_loaded(vault):
        missing.append("keyring not loaded")
    if vault is None or not _database_answers(vault.engine):
        missing.append("database unreachable")
    if missing:
        problem = Problem(503, "not_ready", "Not ready", "; ".join(missing))
        return problem_response(problem)
    return Response(
        json.dumps({"status": "ready", "database": "ok", "keyring": "ok"}),
        media_type="application/json",
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(_: Annotated[None, Depends(scraper)]) -> Response:
    """For the operator's token, or the scrape secret ``CROSSVAULT_METRICS_TOKEN`` as a
    bearer token. Labels never tell a hidden record, person, session or deposit from a
    missing one (:mod:`vault.access.shown`)."""
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


async def scraper(
    request: Request,
    authorization: Annotated[str | None, Security(OPERATOR)],
    _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> None:
    """The operator, or whoever holds the scrape secret; anyone else is 401."""
    services = request.app.state.services
    presented = (
        (authorization or "")[7:].strip() if (authorization or "").startswith("Bearer ") else ""
    )
    secret = services.settings.metrics_token
    if presented and secret and hmac.compare_digest(presented.encode(), secret.encode()):
        return
    tokens = getattr(services, "tokens", None)  # an app without tokens: the secret only
    try:
        claims = (
            None if tokens is None else tokens.verify(presented, now=services.vault.clock.now())
        )
    except InvalidToken:
        claims = None
    if claims is None or claims.role != "operator":
        raise Problem(
            401,
            "invalid_token",
            "Authentication required",
            "Metrics need the operator's token or the scrape secret.",
            headers={"WWW-Authenticate": 'Bearer realm="crossvault"'},
        )


def _vault_of(app: FastAPI) -> Vault | None:
    """The app's vault: ``app.state.vault``, or that of ``app.state.services``."""
    vault = getattr(app.state, "vault", None)
    if vault is None:
        vault = getattr(getattr(app.state, "services", None), "vault", None)
    return cast("Vault | None", vault)


def _keyring_loaded(vault: Vault) -> bool:
    keyring = vault.keyring
    return keyring is not None and keyring.current_version in keyring.versions()


def _database_answers(engine: Engine) -> bool:
    """``SELECT 1`` on a raw driver connection: no transaction, so on SQLite no
    ``BEGIN IMMEDIATE`` and no wait behind writers."""
    try:
        connection = engine.raw_connection()
    except Exception:
        return False
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except Exception:
        connection.invalidate()
        return False
    finally:
        connection.close()
    return True
