"""``crossvault serve`` in a subprocess on a free port: for the demo, the simulator and the
benchmarks, which all drive the API over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

OPERATOR_SECRET = "bench-operator-secret-0123456789abcdef"


@dataclass(frozen=True)
class ServedApi:
    base: str  # e.g. http://127.0.0.1:41234
    pid: int  # the uvicorn process (its memory is what the radiology suite watches)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    data_dir: Path,
    *,
    workers: int = 1,
    database_url: str | None = None,
    policy: Path | None = None,
    simulated_clock: bool = False,
    demo: bool = False,
) -> Iterator[ServedApi]:
    """Serve the real app (embedded SQLite unless ``database_url``); stop it afterwards.

    ``policy`` selects a policy file, ``simulated_clock`` lets the operator move the
    server's clock (``POST /v1/admin/clock``), ``demo`` seeds the demo data.
    """
    port = free_port()
    env = {
        **os.environ,
        "CROSSVAULT_DATA_DIR": str(data_dir),
        "CROSSVAULT_OPERATOR_SECRET": OPERATOR_SECRET,
    }
    for name in ("DATABASE_URL", "CROSSVAULT_POLICY", "CROSSVAULT_CLOCK", "CROSSVAULT_DEMO"):
        env.pop(name, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    if policy is not None:
        env["CROSSVAULT_POLICY"] = str(policy)
    if simulated_clock:
        env["CROSSVAULT_CLOCK"] = "simulated"
    if demo:
        env["CROSSVAULT_DEMO"] = "1"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crossvault",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process)
        yield ServedApi(base, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def bearer(http: httpx.Client, **form: str) -> dict[str, str]:
    """Authorization headers for a token obtained with ``form``."""
    response = http.post("/v1/auth/token", data=form)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
