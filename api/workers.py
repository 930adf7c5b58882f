"""Several uvicorn worker processes, each listening on its own socket of the same port
(``SO_REUSEPORT``), so that the kernel spreads new connections across the workers.

uvicorn's own multi-worker mode hands every worker one shared listening socket, and an
asyncio loop accepts every connection waiting on it each time it wakes: eight keep-alive
connections opened together landed on one worker in three runs of four, and the other
worker idled (``/healthz`` with two workers: 1,367 to 1,421 requests a second when one
worker had them all, 3,116 when they were spread). With a socket per worker, the kernel
chooses the worker by a hash of each connection's addresses.

The parent binds the port first (a port in use is refused before any worker starts) and
keeps that socket bound but not listening, so no other user can take the port while
workers restart; it starts the workers, restarts one that dies, and on ``SIGTERM`` or
``SIGINT`` stops them all. ``SO_REUSEPORT`` lets only processes of the same user share a
port (Linux).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

STARTUP_FAILURE = 3  # uvicorn's exit status when the app cannot start: not restarted
STOP_TIMEOUT = 10.0


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` that other sockets of this user may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _worker(host: str, port: int, config: dict[str, Any]) -> None:
    import uvicorn

    sock = listening_socket(host, port)
    uvicorn.Server(uvicorn.Config(host=host, port=port, **config)).run(sockets=[sock])


def run_workers(workers: int, *, host: str, port: int, **config: Any) -> None:
    """Serve with ``workers`` processes, each ``uvicorn.Server(uvicorn.Config(**config))``
    on its own socket (``config`` as for ``uvicorn.run``: the app as an import string)."""
    try:
        held = listening_socket(host, port)  # port 0: one is chosen
    except OSError as exc:
        sys.exit(f"crossvault: cannot listen on {host}:{port}: {exc.strerror or exc}")
    port = held.getsockname()[1]
    context = multiprocessing.get_context("spawn")

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(host, port, config))
        process.start()
        return process

    stopping: list[int] = []  # the exit status, once asked to stop
    with _StopOnSignals(lambda: stopping.append(0)):
        running = [start() for _ in range(workers)]
        try:
            while not stopping:
                _supervise(running, start, stopping)
        finally:
            _stop(running)
            held.close()
    if stopping[0]:
        sys.exit(stopping[0])


def _supervise(
    running: list[BaseProcess], start: Callable[[], BaseProcess], stopping: list[int]
) -> None:
    """Wait a second for a worker to end; replace one that died, in place (one that could
    not start ends the server with the same status instead)."""
    ended = wait([p.sentinel for p in running], timeout=1.0)
    if stopping:  # a signal came meanwhile (Ctrl-C reaches the workers too): no restart
        return
    for i, process in enumerate(running):
        if process.sentinel in ended:
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                stopping.append(STARTUP_FAILURE)
                return
            running[i] = start()


class _StopOnSignals:
    """Turn ``SIGTERM`` and ``SIGINT`` into ``stop()`` while inside."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.stop()

    def __exit__(self, *_: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _stop(running: list[BaseProcess]) -> None:
    """``SIGTERM`` to every worker (uvicorn's graceful shutdown), then wait; kill any
    still running after :data:`STOP_TIMEOUT` seconds."""
    for process in running:
        if process.is_alive():
            process.terminate()
    for process in running:
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
