"""Encryption at rest, measured against raw AES-256-GCM in the same run.

* 2 KiB records: :meth:`SealingKey.seal` / :meth:`SealingKey.open`, AAD building included,
  against ``AESGCM.encrypt`` / ``decrypt`` on the same plaintext and AAD bytes (the raw
  baseline draws its nonce from ``os.urandom`` too: a nonce is part of the work).
* A large object (256 MiB at scale 1, at least 16 MiB) sealed from a file to a file with
  :func:`vault.crypto.streams.seal_file`, against a raw loop that reads a chunk, encrypts it with
  ``AESGCM`` and writes it; then opened back the same way. Sealing also computes the
  plaintext SHA-256 the store keeps, so it is reported a second time against raw
  AES-GCM *plus* SHA-256, which isolates the cost of the STREAM construction itself.
* The stream's peak memory, measured in a fresh subprocess for two object sizes.

Each timing is the best of a few interleaved repetitions, so a burst of load on the
machine penalises subject and baseline alike.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sim.benchmarks import Measurement
from vault.crypto import aad
from vault.crypto.envelope import NONCE_SIZE, SealingKey
from vault.crypto.streams import CHUNK_SIZE, StreamSealer, open_file

SUITE = "crypto"
RECORD_SIZE = 2048
REPEATS = 5
MB = 1e6
MIB = 1 << 20
STREAM_AAD = b"bench person / bench record / study.dcm"

RecordPlace = tuple[str, str, str, datetime.date]


def run(scale: float) -> list[Measurement]:
    """Record and stream throughput against raw AES-GCM, and the stream's peak memory."""
    stream_mib = max(16, int(256 * scale))
    with tempfile.TemporaryDirectory(prefix="crossvault-bench-") as directory:
        workdir = Path(directory)
        return [
            *_record_throughput(max(2000, int(20000 * scale))),
            *_stream_throughput(workdir, stream_mib),
            *_stream_peak_memory(workdir, (max(16, stream_mib // 4), stream_mib)),
        ]


def _best_seconds(*timed: Callable[[], object]) -> list[float]:
    """Best wall time of each callable over interleaved repetitions."""
    best = [float("inf")] * len(timed)
    for _ in range(REPEATS):
        for position, function in enumerate(timed):
            started = time.perf_counter()
            function()
            best[position] = min(best[position], time.perf_counter() - started)
    return best


# -- records ---------------------------------------------------------------------------


def _record_throughput(count: int) -> list[Measurement]:
    key = SealingKey.generate()
    raw = AESGCM(key.raw())
    plaintext = os.urandom(RECORD_SIZE)
    places = [_place(index) for index in range(count)]
    aads = [aad.record(*place) for place in places]
    envelopes = [key.seal(plaintext, aad=aad) for aad in aads]
    raw_sealed = [
        (envelope[1 : 1 + NONCE_SIZE], envelope[1 + NONCE_SIZE :]) for envelope in envelopes
    ]

    def seal() -> None:
        for place in places:
            key.seal(plaintext, aad=aad.record(*place))

    def raw_seal() -> None:
        for place_aad in aads:
            raw.encrypt(os.urandom(NONCE_SIZE), plaintext, place_aad)

    def open_() -> None:
        for place, envelope in zip(places, envelopes, strict=True):
            key.open(envelope, aad=aad.record(*place))

    def raw_open() -> None:
        for (nonce, sealed), place_aad in zip(raw_sealed, aads, strict=True):
            raw.decrypt(nonce, sealed, place_aad)

    seconds = _best_seconds(seal, raw_seal, open_, raw_open)
    rates = [count * RECORD_SIZE / MB / elapsed for elapsed in seconds]
    note = f"{count} records of 2 KiB, AAD built per record; baseline = raw AESGCM"
    return [
        Measurement(SUITE, "record seal 2 KiB", rates[0], "MB/s", rates[1], note=note),
        Measurement(SUITE, "record open 2 KiB", rates[2], "MB/s", rates[3], note=note),
    ]


def _place(index: int) -> RecordPlace:
    day = datetime.date(2020, 1, 1) + datetime.timedelta(days=index % 1000)
    return (f"person-{index % 97}", f"record-{index}", "laboratory-report", day)


# -- stream throughput -------------------------------------------------------------------


def _stream_throughput(workdir: Path, size_mib: int) -> list[Measurement]:
    plain, sealed, raw_sealed, opened = (
        workdir / name for name in ("plain", "sealed", "raw", "out")
    )
    _write_object(plain, size_mib)
    data_key = SealingKey.generate().raw()
    raw = AESGCM(data_key)

    def seal(digest: bool = True) -> None:
        with _fresh(sealed) as dst, plain.open("rb") as src:
            sealer = StreamSealer(data_key, aad=STREAM_AAD, digest=digest)
            dst.write(sealer.header)
            while chunk := src.read(CHUNK_SIZE):
                dst.write(sealer.update(chunk))
            dst.write(sealer.finalize())

    def raw_seal(digest: bool = False) -> None:
        plaintext_digest = hashlib.sha256()
        with _fresh(raw_sealed) as dst, plain.open("rb") as src:
            for index, chunk in enumerate(iter(lambda: src.read(CHUNK_SIZE), b"")):
                if digest:
                    plaintext_digest.update(chunk)
                dst.write(raw.encrypt(_counter_nonce(index), chunk, STREAM_AAD))

    def open_() -> None:
        with _fresh(opened) as dst, sealed.open("rb") as src:
            for chunk in open_file(data_key, src, aad=STREAM_AAD):
                dst.write(chunk)

    def raw_open() -> None:
        with _fresh(opened) as dst, raw_sealed.open("rb") as src:
            for index, chunk in enumerate(iter(lambda: src.read(CHUNK_SIZE + 16), b"")):
                dst.write(raw.decrypt(_counter_nonce(index), chunk, STREAM_AAD))

    seconds = _best_seconds(
        seal, raw_seal, lambda: raw_seal(digest=True), open_, raw_open, lambda: seal(False)
    )
    rates = [size_mib * MIB / MB / elapsed for elapsed in seconds]
    return _stream_measurements(size_mib, rates)


def _stream_measurements(size_mib: int, rates: list[float]) -> list[Measurement]:
    seal, raw_seal, raw_seal_digest, open_, raw_open, seal_no_digest = rates
    where = f"{size_mib} MiB, file to file, 1 MiB chunks"
    return [
        Measurement(
            SUITE,
            "stream seal (no plaintext digest)",
            seal_no_digest,
            "MB/s",
            raw_seal,
            target_ratio=0.8,
            note=f"{where}; baseline = raw AES-GCM per chunk",
        ),
        Measurement(
            SUITE,
            "stream seal (incl. plaintext SHA-256)",
            seal,
            "MB/s",
            raw_seal,
            target_ratio=0.8,
            note=f"{where}; baseline = raw AES-GCM per chunk",
        ),
        Measurement(
            SUITE,
            "stream seal vs raw AES-GCM + SHA-256",
            seal,
            "MB/s",
            raw_seal_digest,
            target_ratio=0.8,
            note=f"{where}; baseline also hashes the plaintext: cost of STREAM alone",
        ),
        Measurement(
            SUITE,
            "stream open",
            open_,
            "MB/s",
            raw_open,
            target_ratio=0.8,
            note=f"{where}; baseline = raw AES-GCM per chunk",
        ),
    ]


def _write_object(path: Path, size_mib: int) -> None:
    """A test object of ``size_mib`` MiB (its content does not matter to AES)."""
    block = os.urandom(MIB)
    with path.open("wb") as file:
        for _ in range(size_mib):
            file.write(block)


def _fresh(path: Path) -> BinaryIO:
    """Open ``path`` for writing as a new file (no cost of truncating the last run's)."""
    path.unlink(missing_ok=True)
    return path.open("wb")


def _counter_nonce(index: int) -> bytes:
    return index.to_bytes(NONCE_SIZE, "big")


# -- stream memory -----------------------------------------------------------------------

_MEASURE_PEAK = """
import json, resource, sys, tracemalloc
from vault.crypto.streams import seal_file

def peak_rss_kib():
    # VmHWM belongs to this process's memory map; ru_maxrss on Linux also counts the
    # parent's memory at fork, which would hide the child's own peak.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

source, sink = sys.argv[1], sys.argv[2]
tracemalloc.start()
with open(source, "rb") as src, open(sink, "wb") as dst:
    seal_file(bytes(32), src, dst, aad=b"bench")
traced_peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"traced_peak": traced_peak, "peak_rss_kib": peak_rss_kib()}))
"""


def _stream_peak_memory(workdir: Path, sizes_mib: tuple[int, int]) -> list[Measurement]:
    """Peak memory of sealing two object sizes, each in a fresh interpreter."""
    small, large = (_peak_while_sealing(workdir, size) for size in sizes_mib)
    note = (
        f"peak({sizes_mib[0]} MiB) / peak({sizes_mib[1]} MiB); 1.0 = independent of size, "
        f"a size-proportional peak would give {sizes_mib[0] / sizes_mib[1]:.2f}"
    )
    measurements = []
    for key, label in (("traced_peak", "tracemalloc"), ("peak_rss", "process peak RSS")):
        measurements += [
            Measurement(SUITE, f"stream peak memory ({label}), {size} MiB object", peak[key], "MiB")
            for size, peak in zip(sizes_mib, (small, large), strict=True)
        ]
        measurements.append(
            Measurement(
                SUITE,
                f"stream peak memory ({label}) small/large",
                small[key],
                "MiB",
                large[key],
                target_ratio=0.8,
                note=note,
            )
        )
    return measurements


def _peak_while_sealing(workdir: Path, size_mib: int) -> dict[str, float]:
    source, sink = workdir / f"memory-{size_mib}", workdir / f"memory-{size_mib}.sealed"
    _write_object(source, size_mib)
    project_root = Path(__file__).resolve().parents[2]
    search_path = os.pathsep.join(filter(None, [str(project_root), os.environ.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", _MEASURE_PEAK, str(source), str(sink)],
        capture_output=True,
        check=True,
        text=True,
        env={**os.environ, "PYTHONPATH": search_path},
    )
    source.unlink()
    sink.unlink()
    figures = json.loads(completed.stdout)
    return {
        "traced_peak": figures["traced_peak"] / MIB,
        "peak_rss": figures["peak_rss_kib"] / 1024,
    }
