"""Headers every answer carries, whatever route produced it.

* ``X-Content-Type-Options: nosniff`` — a browser never guesses a type the server did not
  send (an uploaded HTML file labelled ``text/plain`` stays text).
* ``Cache-Control: no-store`` unless the route chose its own: every answer may carry
  personal or health data (lists, record metadata, the access log, ``/v1/me``, session
  answers), and nothing of it belongs in a shared or browser cache.
* no ``Server`` header naming the software (uvicorn's is switched off where the server is
  started: ``server_header=False``, and dropped here if anything adds one).

Record content itself is answered by :func:`content_headers`: a type outside
:data:`SAFE_CONTENT_TYPES` is sent as an attachment under ``Content-Security-Policy:
sandbox``, so an uploaded HTML or SVG file never runs in a browser.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/pdf", "image/png", "image/jpeg", "application/dicom"}
)
NO_STORE = {"Cache-Control": "no-store"}


def media_type_of(content_type: str) -> str:
    """``type/subtype`` of a content type, lower case, without parameters."""
    return content_type.split(";")[0].strip().lower()


def content_headers(content_type: str) -> dict[str, str]:
    """The headers of a record's content answer, by its stored content type."""
    media_type = media_type_of(content_type)
    if media_type in SAFE_CONTENT_TYPES:
        return dict(NO_STORE)
    return {
        **NO_STORE,
        "Content-Disposition": "attachment",
        "Content-Security-Policy": "sandbox",
    }


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _secured(message.get("headers", []))}
            await send(message)

        await self.app(scope, receive, with_headers)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() not in (b"server", b"x-content-type-options")]
    names = {k.lower() for k, _ in kept}
    kept.append((b"x-content-type-options", b"nosniff"))
    if b"cache-control" not in names:
        kept.append((b"cache-control", b"no-store"))
    return kept
