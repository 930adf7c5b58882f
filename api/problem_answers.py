"""Outer middlewares that give a problem+json answer another shape on part of the site:
an ``OperationOutcome`` under ``/fhir/r4`` (:mod:`api.fhir.outcome`), a readable page
under ``/app`` (:mod:`api.web.problem_pages`). Whatever made the problem — a route, an
error handler, the request limits (413, 415, too long a query) — the shape follows the
path, and the status, code and headers stay."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_JSON


class ProblemAnswers:
    """Holds a problem+json answer until its body is whole, then sends
    :meth:`reshape`'s answer instead; every other answer passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def applies(self, scope: Scope) -> bool:
        raise NotImplementedError

    async def reshape(self, scope: Scope, send: Send, start: Message, problem: bytes) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.applies(scope):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []  # the start of a problem answer, until its body is whole
        body = bytearray()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                kind = Headers(raw=message["headers"]).get("content-type", "")
                if kind.startswith(PROBLEM_JSON):
                    held.append(message)
                    return
            if not held or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                await self.reshape(scope, send, held[0], bytes(body))

        await self.app(scope, receive, sending)


def code_and_detail(problem: bytes) -> tuple[str, str | None]:
    """A problem+json body's ``code`` and ``detail`` (``internal_error`` if unreadable)."""
    try:
        body = json.loads(problem)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail")
    return str(body.get("code", "internal_error")), detail if isinstance(detail, str) else None


async def send_instead(send: Send, start: Message, content: bytes, media_type: str) -> None:
    """Send ``start``'s status and headers with ``content`` of ``media_type`` as the body."""
    dropped = (b"content-type", b"content-length")
    headers = [(k, v) for k, v in start["headers"] if k.lower() not in dropped]
    headers += [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(content)).encode()),
    ]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": content})
