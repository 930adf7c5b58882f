"""Radiology upload benchmark: a DICOM study streamed over HTTP into the sealed blob
store, against the same machine's plain file-to-encrypted-file pipeline, in one run.

* The study: one multi-frame instance of ``max(64, int(1024 * scale))`` MiB (1 GiB at
  scale 1), written by :func:`sim.studies.write_large_file` without holding its pixels.
* Subject: ``PUT /v1/radiology/deposits/{id}/files/{name}`` to a server in a subprocess
  (``crossvault serve``, embedded SQLite). The client hands the file to the
  kernel with ``sendfile``, so on a small machine it takes no CPU from the server; the
  time runs until the server's answer (the file sealed, fsynced and recorded).
* Baseline: :func:`vault.crypto.streams.seal_file` from that file to a file, then ``fsync`` —
  the same sealing, digest and durability without HTTP, validation or the database.
* Memory: the server's peak RSS during the upload. The kernel's high-water mark is reset
  just before (``/proc/<pid>/clear_refs``), so the rise is the upload's alone.

Each timing is the best of :data:`REPEATS` interleaved runs.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from sim.benchmarks import Measurement, accounts
from sim.benchmarks.s3 import s3_bucket
from sim.server import ServerOptions, running_server
from sim.studies import Study, write_large_file
from vault.crypto import aad
from vault.crypto.envelope import KEY_SIZE
from vault.crypto.streams import seal_file

SUITE = "radiology"
MiB = 1 << 20
MB = 1e6
REPEATS = 3
MEMORY_BUDGET_MIB = 64.0
THROUGHPUT_TARGET = 0.6
PERSON = ("Chan Tai Man", "CHAN^TAI MAN")
DEPOSITOR = "hku_sz"


def run(scale: float) -> list[Measurement]:
    """Upload throughput against ``seal_file``, and the server's peak memory: with blobs in
    the data dir, then in an S3 bucket (moto's server, when ``moto[server]`` is installed,
    or ``CROSSVAULT_BENCH_S3_ENDPOINT`` with the AWS settings of the environment)."""
    size_mib = max(64, int(1024 * scale))
    with tempfile.TemporaryDirectory(prefix="crossvault-bench-radiology-") as directory:
        workdir = Path(directory)
        study = workdir / "study.dcm"
        size = write_large_file(study, size_mib * MiB, Study(patient_name=PERSON[1]))
        results = _measured(workdir / "local", study, ServerOptions(), size, size_mib)
        with s3_bucket() as bucket:
            if bucket is None:
                return results
            s3 = _measured(workdir / "s3", study, ServerOptions(blob_store=bucket), size, size_mib)
            return results + [replace(m, name=f"S3: {m.name}") for m in s3]


def _measured(
    workdir: Path, study: Path, options: ServerOptions, size: int, size_mib: int
) -> list[Measurement]:
    workdir.mkdir()
    with running_server(workdir / "data", options) as served:
        base, pid = served.base, served.pid
        depositor, deposit_id = _open_deposit(base)
        uploads, baselines, rises, peaks = [], [], [], []
        for attempt in range(REPEATS):
            baselines.append(_seal_file_seconds(study, workdir / "sealed.bin"))
            rss = _reset_peak(pid)
            uploads.append(_upload_seconds(base, depositor, deposit_id, attempt, study))
            peak = _status_kib(pid, "VmHWM") / 1024
            rises.append(peak - rss)
            peaks.append(peak)
            _remove_blobs(workdir / "data")
    upload_rate, baseline_rate = size / min(uploads) / MB, size / min(baselines) / MB
    rise = max(rises)
    return [
        Measurement(
            SUITE,
            f"upload throughput, {size_mib} MiB study (HTTP PUT → sealed blob)",
            upload_rate,
            "MB/s",
            baseline=baseline_rate,
            target_ratio=THROUGHPUT_TARGET,
            note="baseline: seal_file from a file to a file, fsynced, same run",
        ),
        Measurement(SUITE, f"server peak RSS rise during a {size_mib} MiB upload", rise, "MiB"),
        Measurement(
            SUITE,
            "server memory budget / peak RSS rise",
            MEMORY_BUDGET_MIB,
            "MiB",
            baseline=max(rise, 0.001),
            target_ratio=1.0,
            note=f"met when the rise stays under {MEMORY_BUDGET_MIB:.0f} MiB",
        ),
        Measurement(SUITE, "server peak RSS (VmHWM) during the upload", max(peaks), "MiB"),
    ]


# -- the two pipelines ---------------------------------------------------------------------------


def _seal_file_seconds(study: Path, target: Path) -> float:
    data_key = os.urandom(KEY_SIZE)
    started = time.perf_counter()
    with open(study, "rb") as source, open(target, "wb") as sealed:
        seal_file(data_key, source, sealed, aad=aad.blob("bench-person", "bench-record", "r"))
        sealed.flush()
        os.fsync(sealed.fileno())
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def _upload_seconds(
    base: str, depositor: dict[str, str], deposit_id: str, attempt: int, study: Path
) -> float:
    """PUT the file with ``sendfile``; seconds until the server's complete answer."""
    host, port = base.removeprefix("http://").split(":")
    size = study.stat().st_size
    head = (
        f"PUT /v1/radiology/deposits/{deposit_id}/files/study-{attempt}.dcm HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nAuthorization: {depositor['Authorization']}\r\n"
        f"Content-Type: application/dicom\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection((host, int(port))) as connection, open(study, "rb") as body:
        connection.sendall(head)
        connection.sendfile(body)
        answer = _read_all(connection)
    seconds = time.perf_counter() - started
    if not answer.startswith(b"HTTP/1.1 201"):
        raise RuntimeError(f"upload refused: {answer[:300]!r}")
    return seconds


def _read_all(connection: socket.socket) -> bytes:
    parts = []
    while chunk := connection.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def _remove_blobs(data_dir: Path) -> None:
    """Keep the disk from filling over the repetitions (the records stay pending)."""
    for blob in (data_dir / "blobs" / "objects").rglob("*"):
        if blob.is_file():
            blob.unlink()


# -- the server's memory ---------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def _reset_peak(pid: int) -> float:
    """Reset the process's peak RSS to its current RSS (MiB), which it returns."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kib(pid, "VmRSS") / 1024


def _open_deposit(base: str) -> tuple[dict[str, str], str]:
    """A person, their radiology authorisation for HKU-SZ, and an open deposit."""
    with httpx.Client(base_url=base, timeout=60) as http:
        person_id = accounts.register_person(http, PERSON[0], "1958-04-02")
        code = http.post(
            "/v1/me/radiology-authorisations",
            headers=accounts.citizen(http, person_id),
            json={"institution_id": DEPOSITOR},
        )
        code.raise_for_status()
        staff = accounts.onboarding(http)
        depositor = staff.professional(DEPOSITOR, "Radiographer", "radiographer")
        deposit = http.post(
            "/v1/radiology/deposits",
            headers=depositor,
            json={"authorisation_code": code.json()["authorisation_code"]},
        )
        deposit.raise_for_status()
        return depositor, str(deposit.json()["deposit_id"])
