"""The simulator's HTTP/1.1: one keep-alive connection per client thread, from the standard
library's ``http.client``.

The simulator makes tens of thousands of small calls, and its client's own CPU is part of
every call's time on a two-core machine. ``httpx`` spent about 480 µs of CPU on a small
JSON call, ``http.client`` about 170 µs (measured side by side against one uvicorn server;
``docs/simulation.md``). The wire is the same: HTTP/1.1 over TCP (or TLS for an
``https://`` ``--url``), keep-alive, ``Content-Length`` bodies.

A connection is reused only while the server surely keeps it open: one idle for longer
than :data:`IDLE_SECONDS` (under uvicorn's 5 s keep-alive) is replaced before the next
request, so that no request meets the server's own close half-way; one the server has
closed sooner reads as ready, and is replaced too, as ``httpcore`` does. A request is
never sent twice.
"""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

TIMEOUT_SECONDS = 120.0
IDLE_SECONDS = 4.0  # reuse a connection idle for less than this (uvicorn closes at 5 s)


class WireError(Exception):
    """The server could not be reached, or the connection broke during a call."""


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


def encoded(
    *, json_body: Any = None, form: dict[str, str] | None = None, content: bytes | None = None
) -> tuple[bytes | None, str | None]:
    """A request's body and its ``Content-Type``: JSON, a form, or bytes as given."""
    if json_body is not None:
        text = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode(), "application/json"
    if form is not None:
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    return content, None


class Connections:
    """Keep-alive connections to one origin (``base``: ``http[s]://host[:port][/prefix]``),
    one per calling thread."""

    def __init__(
        self, base: str, timeout: float = TIMEOUT_SECONDS, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base}")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout, self._idle_seconds = timeout, idle_seconds
        self._mine = threading.local()
        self._every: list[http.client.HTTPConnection] = []
        self._guard = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        connection = self._connection()
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise WireError(str(exc) or type(exc).__name__) from None
        finally:
            self._mine.used = time.monotonic()
        if response.will_close:
            connection.close()  # the next request opens a new one
        return Reply(response.status, response.getheader("content-type") or "", data)

    def close(self) -> None:
        with self._guard:
            for connection in self._every:
                connection.close()
            self._every.clear()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._mine, "connection", None)
        if connection is None:
            connection = self._open()
            self._mine.connection = connection
        elif connection.sock is not None and (
            time.monotonic() - self._mine.used > self._idle_seconds
            or _closed_by_server(connection.sock)
        ):
            connection.close()  # reconnects on the next request
        return connection

    def _open(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._https:
            context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        with self._guard:
            self._every.append(connection)
        return connection


def _closed_by_server(sock: Any) -> bool:
    """An idle keep-alive socket that reads as ready has been closed (or broken)."""
    poller = select.poll()  # (select.select refuses descriptors from 1024 on)
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
