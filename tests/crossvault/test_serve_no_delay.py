"""``crossvault serve --workers N`` answers keep-alive requests without Nagle's stall.

Without ``TCP_NODELAY`` on the accepted sockets of multi-worker mode every answer waited
on the client's delayed ACK: a median of ~40 to 50 ms for ``/healthz`` on one keep-alive
connection, against ~1 ms with it. The median of 30 requests is compared with 20 ms: far
above a loaded machine's answer time and far below the stall, so it fails only on the stall
(the throughput ratio itself is measured by ``make bench``, not here)."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from pathlib import Path

import httpx

from api.transport import no_delay
from sim.server import ServerOptions, running_server

STALL_MS = 20.0


def test_two_workers_answer_keep_alive_requests_without_the_nagle_stall(tmp_path: Path) -> None:
    times = []
    with (
        running_server(tmp_path / "data", ServerOptions(workers=2)) as served,
        httpx.Client(base_url=served.base, timeout=10) as http,
    ):
        http.get("/healthz")  # the connection is open and warm
        for _ in range(30):
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            times.append((time.perf_counter() - started) * 1000)
    assert statistics.median(times) < STALL_MS, f"keep-alive answers took {sorted(times)} ms"


def test_each_accepted_tcp_connection_gets_tcp_nodelay() -> None:
    async def run() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)  # as inherited
                no_delay(transport)
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        probe = await asyncio.get_running_loop().create_server(Probe, "127.0.0.1", port)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(seen, 5)
        writer.close()
        probe.close()
        return value

    assert asyncio.run(run()) != 0
