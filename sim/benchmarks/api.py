"""API benchmark: a Mainland professional listing 50 records in an open viewing session,
against a bare endpoint (``/healthz``) of the same server with the same worker count,
measured alternately in one run (requests per second, p50/p99 latency, ratio)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import httpx

from sim.benchmarks import Measurement
from sim.benchmarks.loadgen import LoadResult, load

OPERATOR_SECRET = "bench-operator-secret-0123456789abcdef"
PASSWORD = "bench-password-0123"
RECORDS = 50


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(workers: int, data_dir: Path, database_url: str | None = None) -> Iterator[str]:
    """``crossvault serve`` in a subprocess; yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "CROSSVAULT_DATA_DIR": str(data_dir),
        "CROSSVAULT_OPERATOR_SECRET": OPERATOR_SECRET,
    }
    if database_url:
        env["DATABASE_URL"] = database_url
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
        yield base
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


def _token(http: httpx.Client, **form: str) -> dict[str, str]:
    response = http.post("/v1/auth/token", data=form)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def open_viewing_session(base: str, records: int = RECORDS) -> tuple[str, dict[str, str]]:
    """Set up through the API: a person with ``records`` HA records in the lookback, a
    cross-border authorisation for HKU-SZ, and an open session. Returns (url, headers)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        operator = _token(
            http,
            grant_type="client_credentials",
            client_id="operator",
            client_secret=OPERATOR_SECRET,
        )
        pid = (
            http.post(
                "/v1/persons",
                headers=operator,
                json={
                    "name": "Bench Person",
                    "date_of_birth": "1950-01-01",
                    "password": PASSWORD,
                    "joined": True,
                },
            )
            .raise_for_status()
            .json()["id"]
        )
        ha = _professional(http, operator, "ha")
        today = date.today()
        for i in range(records):
            http.post(
                f"/v1/patients/{pid}/records",
                headers=ha,
                json={
                    "category": "lab_report",
                    "clinical_date": str(today - timedelta(days=7 * i)),
                    "title": f"Result {i}",
                    "content": "x" * 512,
                    "content_type": "text/plain",
                },
            ).raise_for_status()
        me = _token(http, grant_type="password", username=pid, password=PASSWORD)
        codes = (
            http.post(
                "/v1/me/cross-border-authorisations", headers=me, json={"institution_id": "hku_sz"}
            )
            .raise_for_status()
            .json()
        )
        viewer = _professional(http, operator, "hku_sz")
        session = (
            http.post(
                "/v1/cross-border/sessions",
                headers=viewer,
                json={
                    "application_code": codes["application_code"],
                    "passcode": codes["passcode"],
                },
            )
            .raise_for_status()
            .json()
        )
        url = f"{base}/v1/cross-border/sessions/{session['session_id']}/records?limit={records}"
        listed = http.get(url, headers=viewer).raise_for_status().json()
        assert len(listed["items"]) == records, "the session should see every record"
        return url, viewer


def _professional(http: httpx.Client, operator: dict[str, str], iid: str) -> dict[str, str]:
    creds = (
        http.post(f"/v1/institutions/{iid}/credentials", headers=operator).raise_for_status().json()
    )
    prof = (
        http.post(
            f"/v1/institutions/{iid}/professionals",
            headers=operator,
            json={"name": "Bench", "profession": "doctor"},
        )
        .raise_for_status()
        .json()
    )
    return _token(
        http,
        grant_type="client_credentials",
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        professional_id=prof["id"],
    )


def _best(results: list[LoadResult]) -> LoadResult:
    return max(results, key=lambda r: r.rps)


def run(scale: float) -> list[Measurement]:
    seconds = max(2.0, 5.0 * scale)
    workers, concurrency = 1, 8
    with tempfile.TemporaryDirectory() as tmp, running_server(workers, Path(tmp)) as base:
        url, headers = open_viewing_session(base)
        bare, listed = [], []
        for _ in range(2):  # alternate so drift (thermal, caches) hits both alike
            bare.append(load(f"{base}/healthz", concurrency=concurrency, seconds=seconds))
            listed.append(load(url, headers=headers, concurrency=concurrency, seconds=seconds))
    b, a = _best(bare), _best(listed)
    note = f"{workers} worker, {concurrency} connections, {seconds:.0f}s x2 alternating"
    return [
        Measurement(
            "api",
            "session list of 50 records",
            a.rps,
            "req/s",
            baseline=b.rps,
            target_ratio=0.5,
            note=f"vs /healthz; {note}; errors={a.errors}",
        ),
        Measurement("api", "session list p50 latency", a.p50, "ms", baseline=b.p50),
        Measurement(
            "api", "session list p99 latency", a.percentile(99), "ms", baseline=b.percentile(99)
        ),
    ]
