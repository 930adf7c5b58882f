"""A real HTTP server for API tests: uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from sim.server import free_port


@contextmanager
def serving(app: FastAPI, keep_alive_seconds: int = 5) -> Iterator[str]:
    """Serve ``app`` over real HTTP; yields the base URL; stops the server afterwards."""
    config = uvicorn.Config(
        app,
        timeout_keep_alive=keep_alive_seconds,
        http="h11",  # as crossvault serve's (httptools and uvloop are the simulator's)
        loop="asyncio",
        server_header=False,
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30)
