"""Scale benchmark: what the per-person audit chains and ``TCP_NODELAY`` buy, each figure
measured side by side with its baseline in the same run.

- ``/healthz`` on two workers against one worker, eight connections each (the Nagle stall
  of multi-worker mode made two workers *slower* than one);
- 16 clients each reading a different person's session list against 16 clients all reading
  one person's, on two workers. Per-person chains let the first run in parallel; with one
  global chain the two were equal. On SQLite its single writer still serialises every
  append, so the target applies on PostgreSQL: the suite starts a throw-away cluster
  with PostgreSQL's durable defaults (fsync and synchronous commit on, unlike the test
  suite's) when Debian's binaries are there, or measures ``CROSSVAULT_BENCH_DATABASE_URL``
  (an empty PostgreSQL database) when it is set; SQLite only without either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from sim.benchmarks import Measurement, accounts
from sim.benchmarks.api import open_session
from sim.benchmarks.loadgen import LoadResult, load, load_each
from sim.postgres import (
    PostgresHarnessError,
    find_postgres_binaries,
    scratch_database,
    throwaway_cluster,
)
from sim.server import ServerOptions, running_server
from vault.core.settings import Settings
from vault.runtime.opening import Vault, provision
from vault.store.audit import AuditEvent, append
from vault.store.engine import transaction

PEOPLE, RECORDS = 16, 5


def run(scale: float) -> list[Measurement]:
    seconds = max(2.0, 4.0 * scale)
    measured = _workers(seconds)
    with _databases() as (fresh, where):
        with fresh() as database:
            measured += _people(seconds, database, where)
        with fresh() as database:
            measured += _appends(seconds, database, where)
    return measured


Fresh = Callable[[], contextlib.AbstractContextManager[str | None]]


@contextlib.contextmanager
def _databases() -> Iterator[tuple[Fresh, str]]:
    """(how to get a database for one measurement: a PostgreSQL URL, or None for SQLite;
    what is measured). A given URL names one empty database and is used as it is."""
    given = os.environ.get("CROSSVAULT_BENCH_DATABASE_URL")
    if given:
        yield (lambda: contextlib.nullcontext(given)), "PostgreSQL (CROSSVAULT_BENCH_DATABASE_URL)"
        return
    try:
        find_postgres_binaries()
    except PostgresHarnessError:
        yield (lambda: contextlib.nullcontext(None)), "SQLite (single writer: no target)"
        return
    with throwaway_cluster(durable=True) as cluster:
        yield (lambda: scratch_database(cluster.url, "bench")), "PostgreSQL (throw-away, fsync on)"


def _best(results: list[LoadResult]) -> LoadResult:
    return max(results, key=lambda r: r.rps)


def _workers(seconds: float) -> list[Measurement]:
    runs: dict[int, list[LoadResult]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):  # alternate so drift hits both alike
            for workers in (1, 2):
                options = ServerOptions(workers)
                with running_server(Path(tmp) / "data", options) as served:
                    runs[workers].append(
                        load(f"{served.base}/healthz", concurrency=8, seconds=seconds)
                    )
    one, two = _best(runs[1]), _best(runs[2])
    return [
        Measurement(
            "scale",
            "/healthz, 2 workers",
            two.rps,
            "req/s",
            baseline=one.rps,
            target_ratio=1.5,
            note=f"vs 1 worker; 8 connections; p50 {two.p50:.1f} vs {one.p50:.1f} ms",
        )
    ]


def _people(seconds: float, database: str | None, where: str) -> list[Measurement]:
    options = ServerOptions(2, database_url=database)
    with tempfile.TemporaryDirectory() as tmp:
        if database:  # a deployment: migrated, with its keyring, before it starts
            provision(Settings(data_dir=Path(tmp), database_url=database))
        runs = _people_loads(Path(tmp), options, seconds)
    different, same = _best(runs["many"]), _best(runs["one"])

    return [
        Measurement(
            "scale",
            f"16 people's session lists, 2 workers, {where}",
            different.rps,
            "req/s",
            baseline=same.rps,
            target_ratio=1.5 if database else None,
            note=(
                f"vs 16 clients reading one person's; {RECORDS} records each; "
                f"errors={different.errors + same.errors}"
            ),
        )
    ]


def _people_loads(
    data_dir: Path, options: ServerOptions, seconds: float
) -> dict[str, list[LoadResult]]:
    """Two alternating rounds: 16 clients on 16 people's sessions, then on one person's."""
    runs: dict[str, list[LoadResult]] = {"many": [], "one": []}
    with (
        running_server(data_dir, options) as served,
        httpx.Client(base_url=served.base, timeout=60) as http,
    ):
        staff = accounts.onboarding(http)
        sessions = [open_session(http, staff, RECORDS, f"Bench Person {i}") for i in range(PEOPLE)]
        many = [(s.url, s.headers) for s in sessions]
        one = [(sessions[0].url, sessions[0].headers)] * PEOPLE
        for _ in range(2):
            runs["many"].append(load_each(many, seconds=seconds))
            runs["one"].append(load_each(one, seconds=seconds))
    return runs


def _appends(seconds: float, database: str | None, where: str) -> list[Measurement]:
    """16 writer threads appending audit entries, each in its own durable transaction:
    each about a different person (16 chains) against all about one person (one chain,
    as the whole log was before), alternating, on the same database."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=database)
        provision(settings)
        vault = Vault.open(settings)
        try:
            rates: dict[str, list[float]] = {"own": [], "shared": []}
            for _ in range(2):
                rates["own"].append(_append_rate(vault, seconds / 2, shared=False))
                rates["shared"].append(_append_rate(vault, seconds / 2, shared=True))
        finally:
            vault.close()
    own, shared = max(rates["own"]), max(rates["shared"])
    return [
        Measurement(
            "scale",
            f"audit appends, 16 writers for 16 people, {where}",
            own,
            "appends/s",
            baseline=shared,
            note="vs the same 16 writers all on one chain (the old global chain's shape)",
        )
    ]


def _append_rate(vault: Vault, seconds: float, *, shared: bool) -> float:
    counts = [0] * PEOPLE
    deadline = time.perf_counter() + seconds

    def writer(i: int) -> None:
        person = "bench-shared" if shared else f"bench-person-{i}"
        while time.perf_counter() < deadline:
            event = AuditEvent("citizen", person, "read_record", True, "owner", person_id=person)
            with transaction(vault.engine) as session:
                append(session, event, at=vault.clock.now())
            counts[i] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)
