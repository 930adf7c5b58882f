"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams (keep-alive).

httpx costs more CPU per request than the server it measures on a two-core machine;
this client spends little, so the ratio between two endpoints reflects the server.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def _request_bytes(host: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lname = name.strip().lower()
        if lname == b"content-length":
            length = int(value.strip())
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _worker(
    url: str, headers: dict[str, str], deadline: float, latencies: list[float], counts: list[int]
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    payload = _request_bytes(f"{host}:{port}", path, headers)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(payload)
            status = await _read_response(reader)
            latencies.append((time.perf_counter() - started) * 1000)
            counts[0 if status < 400 else 1] += 1
    finally:
        writer.close()


async def _run(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> LoadResult:
    latencies: list[float] = []
    counts = [0, 0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_worker(url, headers, deadline, latencies, counts) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    return LoadResult(counts[0], counts[1], elapsed, tuple(latencies))


def load(
    url: str, *, headers: dict[str, str] | None = None, concurrency: int = 8, seconds: float = 5.0
) -> LoadResult:
    """Hit ``url`` with ``concurrency`` keep-alive connections for ``seconds``."""
    return asyncio.run(_run(url, headers or {}, concurrency, seconds))


def load_each(targets: list[tuple[str, dict[str, str]]], *, seconds: float = 5.0) -> LoadResult:
    """One keep-alive connection per ``(url, headers)`` target, all at once, for ``seconds``."""

    async def run() -> LoadResult:
        latencies: list[float] = []
        counts = [0, 0]
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_worker(url, sent, deadline, latencies, counts) for url, sent in targets)
        )
        return LoadResult(counts[0], counts[1], time.perf_counter() - started, tuple(latencies))

    return asyncio.run(run())
