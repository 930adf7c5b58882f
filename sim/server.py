"""``crossvault serve`` in a subprocess on a free port: for the demo, the simulator and the
benchmarks, which all drive the API over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sim.onboarding import APPROVER, OPERATOR_SECRET

__all__ = ["OPERATOR_SECRET", "ServedApi", "ServerOptions", "bearer", "free_port", "running_server"]


READY_SECONDS = 180.0


@dataclass(frozen=True)
class ServedApi:
    base: str  # e.g. http://127.0.0.1:41234
    pid: int  # the uvicorn process (its memory is what the radiology suite watches)
    workers_at: tuple[str, ...] = ()  # each worker's own base (ServerOptions.own_ports)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServerOptions:
    """How a throwaway server runs. ``database_url`` replaces the embedded SQLite,
    ``policy`` selects a policy file, ``simulated_clock`` lets the operator move the
    server's clock (``POST /v1/admin/clock``). ``factory`` ("module:function") serves
    another app factory with uvicorn directly instead of ``crossvault serve`` (the
    benchmark's control app, on a data dir that ``crossvault serve`` has already set up);
    ``module`` runs ``python -m MODULE PORT WORKERS`` instead (the simulator's own deployment,
    :mod:`sim.simulation.serving`), followed by a free port per worker with ``own_ports``.
    """

    workers: int = 1
    database_url: str | None = None
    policy: Path | None = None
    simulated_clock: bool = False
    factory: str | None = None
    module: str | None = None
    own_ports: bool = False  # with ``module``: each worker on a port of its own too
    blob_store: str | None = None  # CROSSVAULT_BLOB_STORE (s3://...): AWS_* pass through


@contextmanager
def running_server(data_dir: Path, options: ServerOptions | None = None) -> Iterator[ServedApi]:
    """Serve the real app on a free port (see :class:`ServerOptions`); stop it afterwards."""
    options = options or ServerOptions()
    port = free_port()
    own = [free_port() for _ in range(options.workers)] if options.own_ports else []
    process = subprocess.Popen(
        _command(port, options) + [str(p) for p in own],
        env=_environment(data_dir, options),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tail, reader = _drain(process)  # keeps the last lines: a refusal to start is explained
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, tail)
        if options.factory is None:  # each worker listens on its own socket (api/workers.py)
            _wait_listening(port, options.workers, process)
        for own_port in own:
            _wait_listening(own_port, 1, process)
        workers_at = tuple(f"http://127.0.0.1:{p}" for p in own)
        yield ServedApi(base, process.pid, workers_at)
    finally:
        _stop(process, reader)


def _environment(data_dir: Path, options: ServerOptions) -> dict[str, str]:
    """The server's environment. Nothing of the caller's own configuration (a deployment
    keyring, database, policy) leaks into this throwaway server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CROSSVAULT_", "DATABASE_"))}
    env["CROSSVAULT_DATA_DIR"] = str(data_dir)
    env["CROSSVAULT_OPERATOR_SECRET"] = OPERATOR_SECRET
    env["CROSSVAULT_OPERATORS"] = json.dumps(dict([APPROVER]))  # four eyes: a second one
    if options.database_url:
        env["DATABASE_URL"] = options.database_url
    if options.policy is not None:
        env["CROSSVAULT_POLICY"] = str(options.policy)
    if options.simulated_clock:
        env["CROSSVAULT_CLOCK"] = "simulated"
    if options.blob_store is not None:
        env["CROSSVAULT_BLOB_STORE"] = options.blob_store
    return env


def _stop(process: subprocess.Popen[bytes], reader: threading.Thread) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader.join(timeout=5)
    if process.stderr is not None:
        process.stderr.close()


def _command(port: int, options: ServerOptions) -> list[str]:
    if options.module is not None:
        return [sys.executable, "-m", options.module, str(port), str(options.workers)]
    served = ["--port", str(port), "--workers", str(options.workers)]
    if options.factory is None:
        return [sys.executable, "-m", "crossvault", "serve", *served]
    factory = options.factory
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        *("--http", "h11", "--loop", "asyncio"),  # as crossvault serve's
        "--no-access-log",
        "--no-server-header",
        *served,
    ]


def _drain(process: subprocess.Popen[bytes]) -> tuple[deque[str], threading.Thread]:
    """Read the server's stderr in a thread (so it never blocks), keeping the last lines."""
    tail: deque[str] = deque(maxlen=5)

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            tail.append(line.decode(errors="replace").rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return tail, reader


def _wait_ready(base: str, process: subprocess.Popen[bytes], tail: deque[str]) -> None:
    """Poll ``/healthz`` (one client: a fresh one per poll costs an SSL context) until
    it answers; a busy machine may take a while to import and start the app."""
    deadline = time.monotonic() + READY_SECONDS
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                time.sleep(0.1)  # let the reader catch the last line
                last = f": {tail[-1]}" if tail else ""
                raise RuntimeError(f"server exited with {process.returncode}{last}")
            try:
                if client.get(f"{base}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def _wait_listening(port: int, workers: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until every worker listens (``/healthz`` answers once the first does): a load
    that starts earlier has every connection on the first worker, for as long as it keeps
    them open."""
    deadline = time.monotonic() + READY_SECONDS
    while listening_sockets(port) < workers:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {listening_sockets(port)} of {workers} workers listen")
        time.sleep(0.1)


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on ``port`` (Linux's ``/proc/net/tcp``; elsewhere the
    count is not known and taken to be enough)."""
    tables = [t for t in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")) if t.exists()]
    if not tables:
        return sys.maxsize
    listening = f":{port:04X}"
    count = 0
    for table in tables:
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            count += fields[1].endswith(listening) and fields[3] == "0A"  # 0A: LISTEN
    return count


def bearer(http: httpx.Client, **form: str) -> dict[str, str]:
    """Authorization headers for a token obtained with ``form``."""
    response = http.post("/v1/auth/token", data=form)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
