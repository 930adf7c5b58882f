"""The HTTP protocols crossvault gives uvicorn, with ``TCP_NODELAY`` on every accepted
connection and one write per answer: h11 for ``crossvault serve``, httptools for the
simulator's own server (:mod:`sim.simulation.serving`).

With several workers, uvicorn hands each process an inherited listening socket, and the
connections accepted on it are left with Nagle's algorithm on: each answer's header and
body (two writes) then wait on the client's delayed ACK — about 40 ms on every keep-alive
request (``/healthz`` fell from ~1,350 to ~180 requests a second with two workers). An
answer is small and complete when it is written, so nothing is gained by coalescing.

uvicorn writes an answer's head and its body separately, so with ``TCP_NODELAY`` each
answer cost two ``send`` calls and two segments, and the client two wake-ups.
:class:`OneWrite` holds a response's head until its body is written (or the response
ends, or the connection closes) and sends them together: against a route answering a
small JSON body, 3 to 9% less server CPU a request (three alternating runs of 12,000
requests over httptools, ``docs/simulation.md``). Interim heads (``1xx``:
``100 Continue``, ``101 Switching Protocols``) are never held; nothing is reordered.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Switch Nagle's algorithm off on ``transport``'s TCP socket (not on Unix sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_STATUS_LINE = b"HTTP/1.1 "


class OneWrite:
    """A transport that holds a response's head until the next write, which it joins;
    everything else is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif isinstance(data, bytes) and _is_final_head(data):
            self._head = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a head still held (a response without a body: ``HEAD``, ``204``)."""
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _is_final_head(data: bytes) -> bool:
    return (
        data.startswith(_STATUS_LINE)
        and data.endswith(b"\r\n\r\n")
        and data[len(_STATUS_LINE) : len(_STATUS_LINE) + 1] != b"1"
    )


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with ``TCP_NODELAY`` set as each connection is made and
    one write per answer."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(cast(asyncio.Transport, OneWrite(transport)))

    def on_response_complete(self) -> None:
        cast(OneWrite, self.transport).flush()
        super().on_response_complete()


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with ``TCP_NODELAY`` set as each connection is made
    and one write per answer."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(cast(asyncio.Transport, OneWrite(transport)))

    def on_response_complete(self) -> None:
        cast(OneWrite, self.transport).flush()
        super().on_response_complete()
