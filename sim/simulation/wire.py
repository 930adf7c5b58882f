"""The simulator's HTTP/1.1: one keep-alive connection per client thread (and per server
process, when each has a port of its own), from the standard library's ``http.client``.

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
from collections.abc import Sequence
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
    one per calling thread.

    ``workers_at``: the same server's worker processes, each at a port of its own
    (:mod:`sim.simulation.serving`). Each request then goes to the worker with the fewest
    of this client's requests in flight, on the calling thread's connection to it: the
    kernel spreads a shared port's connections over the workers by a hash of their
    addresses, and with a few keep-alive connections one worker may get most of them.
    """

    def __init__(
        self,
        base: str,
        timeout: float = TIMEOUT_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        workers_at: Sequence[str] = (),
    ) -> None:
        given = _origin(base)
        self._prefix = given[3]
        self._origins = [_origin(at) for at in workers_at] or [given]
        self._in_flight = [0] * len(self._origins)
        self._timeout, self._idle_seconds = timeout, idle_seconds
        self._mine = threading.local()  # .kept: {origin: _Kept}
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
        origin = self._least_busy()
        try:
            kept = self._kept(origin)
            response, data = kept.exchange(method, target, body, headers or {})
        finally:
            with self._guard:
                self._in_flight[origin] -= 1
        return Reply(response.status, response.getheader("content-type") or "", data)

    def close(self) -> None:
        with self._guard:
            for connection in self._every:
                connection.close()
            self._every.clear()

    def _least_busy(self) -> int:
        """The origin with the fewest requests in flight, counted as taken."""
        with self._guard:
            origin = min(range(len(self._in_flight)), key=self._in_flight.__getitem__)
            self._in_flight[origin] += 1
            return origin

    def _kept(self, origin: int) -> _Kept:
        """This thread's connection to ``origin``, closed first (so that the request
        reconnects) if it idled too long or the server closed it."""
        kept_here: dict[int, _Kept] | None = getattr(self._mine, "kept", None)
        if kept_here is None:
            kept_here = self._mine.kept = {}
        kept = kept_here.get(origin)
        if kept is None:
            kept = kept_here[origin] = _Kept(self._open(self._origins[origin]))
        elif kept.connection.sock is not None and (
            time.monotonic() - kept.used > self._idle_seconds
            or _closed_by_server(kept.connection.sock)
        ):
            kept.connection.close()
        return kept

    def _open(self, origin: tuple[bool, str, int | None, str]) -> http.client.HTTPConnection:
        https, host, port, _prefix = origin
        connection: http.client.HTTPConnection
        if https:
            context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                host, port, timeout=self._timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        with self._guard:
            self._every.append(connection)
        return connection


class _Kept:
    """A thread's connection to one origin, and when it last answered."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.connection = connection
        self.used = time.monotonic()

    def exchange(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One request and its whole answer; the connection is closed after an error or
        when the server will close it (the next request opens a new one)."""
        connection = self.connection
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise WireError(str(exc) or type(exc).__name__) from None
        finally:
            self.used = time.monotonic()
        if response.will_close:
            connection.close()
        return response, data


def _origin(url: str) -> tuple[bool, str, int | None, str]:
    """(https?, host, port, path prefix) of an ``http[s]://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    return parts.scheme == "https", parts.hostname, parts.port, parts.path.rstrip("/")


def _closed_by_server(sock: Any) -> bool:
    """An idle keep-alive socket that reads as ready has been closed (or broken)."""
    poller = select.poll()  # (select.select refuses descriptors from 1024 on)
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
