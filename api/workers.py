"""Several uvicorn worker processes, each listening on its own socket of the same port
(``SO_REUSEPORT``), so that the kernel spreads new connections across the workers.

uvicorn's own multi-worker mode hands every worker one shared listening socket, and an
asyncio loop accepts every connection waiting on it each time it wakes: eight keep-alive
connections opened together landed on one worker in three runs of four (each worker's CPU
time during the load), and the other worker idled. ``crossvault bench --only scale``
measured ``/healthz`` on two workers at 1.12 times one worker's then, and 2.04 to 2.09
times with this module. With a socket per worker, the kernel chooses the worker by a hash
of each connection's addresses.

The parent binds the port first (a port in use is refused before any worker starts) and
keeps that socket bound but not listening, so no other user can take the port while
workers restart; it starts the workers, restarts one that dies, and on ``SIGTERM`` or
``SIGINT`` stops them all. ``SO_REUSEPORT`` lets only processes of the same user share a
port (Linux).

The supervisor notices a stop signal at once: its handler writes to a pipe the
supervisor waits on with the workers (without it, the wait ran to its one-second timeout
first). Workers are spawned (a fresh interpreter each) unless the caller asks for
``start="fork"``: the simulator's own deployment imports the app in the parent first, so
each forked worker starts with the imports done (``sim.simulation.serving``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Sequence
from multiprocessing.connection import wait
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Literal

STOP_TIMEOUT = 10.0
STARTUP_FAILURE = 3  # uvicorn's exit status for an app that cannot start: not restarted
POLL_SECONDS = 1.0  # the supervisor's wait for a worker to end, between other checks
Start = Literal["spawn", "fork"]


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


def _worker(host: str, ports: tuple[int, ...], config: dict[str, Any]) -> None:
    """One worker process, listening on the shared port and on its own one if it has one.
    A worker that ends before its server started (whatever the app factory raised) exits
    with :data:`STARTUP_FAILURE`, so it is not restarted."""
    import uvicorn

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker had the supervisor's
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = uvicorn.Server(uvicorn.Config(host=host, port=ports[0], **config))
    try:
        server.run(sockets=[listening_socket(host, port) for port in ports])
    finally:
        if not server.started:
            sys.exit(STARTUP_FAILURE)


def run_workers(
    workers: int,
    *,
    host: str,
    port: int,
    own_ports: Sequence[int] = (),
    start: Start = "spawn",
    **config: Any,
) -> None:
    """Serve with ``workers`` processes, each ``uvicorn.Server(uvicorn.Config(**config))``
    on its own socket (``config`` as for ``uvicorn.run``: the app as an import string).
    ``own_ports``, one per worker: each worker listens on its own port as well, for a
    client that spreads its calls over the workers itself (the simulator's). ``start``:
    how a worker process is made (see the module)."""
    if own_ports and len(own_ports) != workers:
        raise ValueError("own_ports needs one port per worker")
    held: list[socket.socket] = []
    try:
        for bound in (port, *own_ports):  # port 0: one is chosen
            held.append(listening_socket(host, bound))
    except OSError as exc:
        for sock in held:
            sock.close()
        sys.exit(f"crossvault: cannot listen on {host}:{bound}: {exc.strerror or exc}")
    ports = [sock.getsockname()[1] for sock in held]
    supervisor = _Supervisor(host, ports[0], tuple(ports[1:]), config, start)
    try:
        status = supervisor.run(workers)
    finally:
        for sock in held:
            sock.close()
    if status:
        sys.exit(status)


class _Supervisor:
    """Starts the workers, replaces one that dies, and stops them all on ``SIGTERM`` or
    ``SIGINT`` (or when one could not start)."""

    def __init__(
        self,
        host: str,
        port: int,
        own_ports: tuple[int, ...],
        config: dict[str, Any],
        start: Start = "spawn",
    ) -> None:
        self.host, self.port, self.own_ports, self.config = host, port, own_ports, config
        self.context: SpawnContext | ForkContext = (
            multiprocessing.get_context("fork")
            if start == "fork"
            else multiprocessing.get_context("spawn")
        )
        self.status: int | None = None  # the exit status, once asked to stop
        self._woken, self._wake = os.pipe()  # the stop signal's handler writes to it
        os.set_blocking(self._wake, False)

    def run(self, workers: int) -> int:
        previous = {s: signal.signal(s, self._stop_on) for s in (signal.SIGTERM, signal.SIGINT)}
        running: list[BaseProcess] = []
        try:
            running = [self._start(slot) for slot in range(workers)]
            while self.status is None:
                self._replace_the_dead(running)
        finally:
            _stop(running)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(self._woken)
            os.close(self._wake)
        return self.status

    def _start(self, slot: int) -> BaseProcess:
        ports = (self.port, self.own_ports[slot]) if self.own_ports else (self.port,)
        process = self.context.Process(target=_worker, args=(self.host, ports, self.config))
        process.start()
        return process

    def _stop_on(self, _signum: int, _frame: FrameType | None) -> None:
        if self.status is None:
            self.status = 0
        with contextlib.suppress(OSError):  # a full pipe: the supervisor is awake already
            os.write(self._wake, b"!")

    def _replace_the_dead(self, running: list[BaseProcess], timeout: float = POLL_SECONDS) -> None:
        """Wait up to ``timeout`` for a worker to end, or for a stop signal, and replace
        an ended worker in place (not after a signal: Ctrl-C reaches the workers too)."""
        ended = wait([*(p.sentinel for p in running), self._woken], timeout=timeout)
        if self._woken in ended:
            os.read(self._woken, 64)
        for i, process in enumerate(running):
            if process.sentinel not in ended or self.status is not None:
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                self.status = STARTUP_FAILURE
            else:
                running[i] = self._start(i)


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
