"""The HTTP protocols crossvault gives uvicorn, with ``TCP_NODELAY`` on every accepted
connection: h11 for ``crossvault serve``, httptools for the simulator's own server
(:mod:`sim.simulation.serving`).

With several workers, uvicorn hands each process an inherited listening socket, and the
connections accepted on it are left with Nagle's algorithm on: each answer's header and
body (two writes) then wait on the client's delayed ACK — about 40 ms on every keep-alive
request (``/healthz`` fell from ~1,350 to ~180 requests a second with two workers). An
answer is small and complete when it is written, so nothing is gained by coalescing.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Switch Nagle's algorithm off on ``transport``'s TCP socket (not on Unix sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with ``TCP_NODELAY`` set as each connection is made."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with ``TCP_NODELAY`` set as each connection is made."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)
