"""What a request may carry, checked before routing: a pure ASGI middleware.

A small table of :class:`BodyRule` says, per path, which media types a body may have and
how many bytes it may hold. JSON and form bodies are small: they are read whole, checked
(UTF-8; for JSON, well-formed; no NUL character) and handed on unchanged. Streamed
uploads (radiology) are only counted as they pass; going over the limit raises
:class:`BodyTooLarge` inside the handler's ``receive`` and the client gets the 413. The
request target is bounded too, and holds no NUL either: identifiers reach the database as
text, and PostgreSQL cannot store a NUL (it was a 500 there, found by fuzzing).
Every refusal is a problem+json made by :func:`api.errors.problem_response`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus, unquote_to_bytes

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import Problem, problem_response
from vault.radiology.base import DEFAULT_MAX_FILE_BYTES

KiB = 1024
MiB = 1024 * KiB
JSON_TYPES = ("application/json", "application/*+json")
FORM_TYPES = ("application/x-www-form-urlencoded",)
UTF8_CHARSETS = ("utf-8", "utf8")


@dataclass(frozen=True)
class BodyRule:
    """Bodies sent to paths that ``path`` matches in full: the media types accepted
    (``type/*+suffix`` patterns allowed; ``None``: the handler checks) and the most bytes
    (``None``: the handler limits). ``streamed`` bodies are counted as they pass to the
    handler instead of being read and checked first."""

    path: re.Pattern[str]
    media_types: tuple[str, ...] | None
    max_bytes: int | None
    streamed: bool = False

    def accepts(self, media_type: str) -> bool:
        return self.media_types is None or any(
            _media_type_matches(pattern, media_type) for pattern in self.media_types
        )


JSON_BODIES = BodyRule(re.compile(r".*"), JSON_TYPES, 2 * MiB)
# Radiology uploads (a whole file, or a tus PATCH of one) are streamed; their handlers
# check the media type and the configured per-file limit, the rule only caps a request
# at the default file size. A STOW-RS request holds many files, each limited by the
# handler, so it has no cap of its own.
DEFAULT_RULES: tuple[BodyRule, ...] = (
    BodyRule(re.compile(r"/v1/auth(/smart)?/token"), FORM_TYPES, 64 * KiB),  # smart: api.fhir
    # The web app (api/web): its folder form, a photo of QR codes, the depositor uploads.
    BodyRule(re.compile(r"/app/folder"), ("multipart/form-data",), 5 * MiB, streamed=True),
    BodyRule(re.compile(r"/app/clinician/scan"), ("multipart/form-data",), 9 * MiB, streamed=True),
    BodyRule(
        re.compile(r"/app/clinician/deposits/[^/]+/uploads(/[^/]+)?"),
        None,
        DEFAULT_MAX_FILE_BYTES,
        streamed=True,
    ),  # the depositor page's resumable uploads
    BodyRule(re.compile(r"/app/.*"), FORM_TYPES, 64 * KiB),  # and its other forms
    BodyRule(
        re.compile(r"/v1/radiology/deposits/[^/]+/(files/[^/]+|uploads(/[^/]+)?)"),
        None,
        DEFAULT_MAX_FILE_BYTES,
        streamed=True,
    ),
    BodyRule(re.compile(r"/dicomweb/.+"), None, None, streamed=True),
)


class BodyTooLarge(Exception):
    """Raised by ``receive`` when a streamed body passes its limit; the client gets 413."""


@dataclass(frozen=True)
class TargetLimits:
    """How long a request's path and query may be, and how many query parameters."""

    max_path_bytes: int = 2 * KiB
    max_query_bytes: int = 4 * KiB
    max_query_params: int = 64


class BodyLimits:
    """Refuses, as problem+json and before any handler runs: request targets that are
    too long (414) or carry too many query parameters (400); bodies that are too large
    (413), of a media type, charset or content coding the path does not take (415), not
    UTF-8 (400 ``invalid_encoding``) or not well-formed JSON (400 ``malformed_json``);
    and a NUL character in the path, the query or a JSON or form body (400
    ``nul_character``). ``rules`` are tried in order; ``default`` covers every other
    path."""

    def __init__(
        self,
        app: ASGIApp,
        rules: Sequence[BodyRule] = DEFAULT_RULES,
        default: BodyRule = JSON_BODIES,
        targets: TargetLimits = TargetLimits(),
    ) -> None:
        self.app = app
        self.rules = tuple(rules)
        self.default = default
        self.max_path_bytes = targets.max_path_bytes
        self.max_query_bytes = targets.max_query_bytes
        self.max_query_params = targets.max_query_params

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._target_problem(scope)
        if problem is not None:
            await problem_response(problem)(scope, receive, send)
            return
        headers = _headers(scope)
        if "content-length" not in headers and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body: nothing more to check
            return
        rule = self.rule_for(scope["path"])
        problem = _declared_body_problem(rule, headers)
        if problem is not None:
            await _problem_or_router(problem, self.app, (scope, receive, send))
        elif rule.streamed and rule.max_bytes is not None:
            await _pass_counted(self.app, rule.max_bytes, scope, receive, send)
        elif rule.streamed:
            await self.app(scope, receive, send)
        else:
            await _pass_checked(self.app, rule, headers, (scope, receive, send))

    def rule_for(self, path: str) -> BodyRule:
        """The body rule of ``path`` (the first rule whose pattern matches, else the default)."""
        return next((rule for rule in self.rules if rule.path.fullmatch(path)), self.default)

    def _target_problem(self, scope: Scope) -> Problem | None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if len(raw_path) > self.max_path_bytes or len(query) > self.max_query_bytes:
            return Problem(
                414,
                "uri_too_long",
                "URI too long",
                "The request target is longer than this API accepts.",
            )
        if query and query.count(b"&") >= self.max_query_params:
            return Problem(
                400,
                "too_many_query_parameters",
                "Too many query parameters",
                f"At most {self.max_query_params} query parameters are accepted.",
            )
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(query):
            return nul_character()
        return None


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers; of a repeated one, the first (as Starlette reads it)."""
    pairs = reversed(scope["headers"])
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in pairs}


def _media_type_matches(pattern: str, media_type: str) -> bool:
    if "*" not in pattern:
        return pattern == media_type
    prefix, suffix = pattern.split("*", 1)
    return (
        len(media_type) > len(prefix) + len(suffix)
        and media_type.startswith(prefix)
        and media_type.endswith(suffix)
    )


def _parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    media_type, *parameters = value.split(";")
    params: dict[str, str] = {}
    for parameter in parameters:
        name, _, parameter_value = parameter.partition("=")
        params[name.strip().lower()] = parameter_value.strip().strip('"').lower()
    return media_type.strip().lower(), params


def _is_text(media_type: str) -> bool:
    return any(_media_type_matches(p, media_type) for p in (*JSON_TYPES, *FORM_TYPES))


def _is_json(media_type: str) -> bool:
    return any(_media_type_matches(p, media_type) for p in JSON_TYPES)


def _declared_length(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:  # the server has already refused malformed framing; be safe
        return 0


def _declared_body_problem(rule: BodyRule, headers: dict[str, str]) -> Problem | None:
    """What the headers alone show: too long, or not a media type this path takes."""
    if rule.max_bytes is not None and _declared_length(headers) > rule.max_bytes:
        return too_large(rule.max_bytes)
    if "transfer-encoding" not in headers and _declared_length(headers) == 0:
        return None  # an empty body is left to the handler (it may need none)
    media_type, params = _parse_content_type(headers.get("content-type", ""))
    charset = params.get("charset")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if (
        not rule.accepts(media_type)
        or encoding != "identity"
        or (charset is not None and _is_text(media_type) and charset not in UTF8_CHARSETS)
    ):
        return _unsupported(rule)
    return None


def too_large(max_bytes: int) -> Problem:
    return Problem(
        413,
        "payload_too_large",
        "Payload too large",
        f"Request bodies here are limited to {max_bytes} bytes.",
        max_bytes=max_bytes,
    )


def _unsupported(rule: BodyRule) -> Problem:
    accepted = ", ".join(rule.media_types or ())
    return Problem(
        415,
        "unsupported_media_type",
        "Unsupported media type",
        f"This endpoint takes {accepted}, UTF-8 and without content coding.",
        headers={"Accept": accepted},
        accepted=list(rule.media_types or ()),
    )


def nul_character() -> Problem:
    return Problem(
        400,
        "nul_character",
        "NUL character",
        "The request carries a NUL character (U+0000), which no field of this API takes.",
    )


def _holds_nul(value: object) -> bool:
    """Whether any string (key or value) of a parsed JSON document holds a NUL."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _content_problem(media_type: str, body: bytes) -> Problem | None:
    """Bodies are UTF-8, and JSON bodies well-formed (however deeply nested); no NUL
    in a JSON string or a form field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Problem(400, "invalid_encoding", "Invalid encoding", "The body is not UTF-8.")
    if not body:
        return None
    if not _is_json(media_type):
        form = any(_media_type_matches(p, media_type) for p in FORM_TYPES)
        return nul_character() if form and "\x00" in unquote_plus(text) else None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return Problem(400, "malformed_json", "Malformed JSON", "The body is not valid JSON.")
    return nul_character() if _holds_nul(document) else None


class _ClientGone(Exception):
    """The client disconnected before its body arrived: there is no one to answer."""


async def _read_body(receive: Receive, limit: int | None) -> bytes | None:
    """The whole body, or ``None`` once it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _pass_checked(
    app: ASGIApp,
    rule: BodyRule,
    headers: dict[str, str],
    call: tuple[Scope, Receive, Send],
) -> None:
    scope, receive, send = call
    try:
        body = await _read_body(receive, rule.max_bytes)
    except _ClientGone:
        return
    if body is None:
        assert rule.max_bytes is not None
        await _problem_or_router(too_large(rule.max_bytes), app, call)
        return
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    media_type, _ = _parse_content_type(headers.get("content-type", ""))
    problem = _content_problem(media_type, body)
    if problem is not None:
        await _problem_or_router(problem, app, (scope, replay, send))
        return
    await app(scope, replay, send)


async def _problem_or_router(
    problem: Problem, app: ASGIApp, call: tuple[Scope, Receive, Send]
) -> None:
    """Answer ``problem`` about the body, unless no route serves the path: then the
    router's 404, whatever the method and the body (never a 415 for a missing route).
    Checked only here, when there is a problem, so a good request never pays for it."""
    scope, receive, send = call
    if _routed(scope):
        await problem_response(problem)(scope, receive, send)
    else:
        await app(scope, receive, send)


async def _pass_counted(
    app: ASGIApp, max_bytes: int, scope: Scope, receive: Receive, send: Send
) -> None:
    """Streams the body through, counting; past the limit the handler's ``receive``
    raises :class:`BodyTooLarge`, whatever it answers is dropped and the client gets 413."""
    received = 0
    exceeded = started = False

    async def counted() -> Message:
        nonlocal received, exceeded
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                exceeded = True
                raise BodyTooLarge
        return message

    async def guarded(message: Message) -> None:
        nonlocal started
        if exceeded:
            return
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, counted, guarded)
    except Exception:  # the handler's own reaction to BodyTooLarge is replaced by ours
        if not exceeded or started:
            raise
    if exceeded and not started:
        await problem_response(too_large(max_bytes))(scope, receive, send)


def _routed(scope: Scope) -> bool:
    """Does any route of the app serve this path (with any method)?"""
    app = scope.get("app")
    router = getattr(app, "router", None)
    if router is None:
        return True  # not under an app: check as before
    probe = {**scope, "method": "GET"}
    return any(route.matches(probe)[0] is not Match.NONE for route in router.routes)
