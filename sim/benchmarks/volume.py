"""Latency at size (opt-in: ``crossvault bench --only volume``, never in the default run):
p50 and p99 of one person's cross-border session list (50 records) and of their own list,
with the database holding about 10 thousand records in all, then about
``CROSSVAULT_BENCH_VOLUME_LARGE`` (default 1,000,000 times ``--scale``), seeded with
:mod:`vault.seeding.bulk`. Targets: large/small at most 1.5 (p50) and 2 (p99).

The database is a throw-away PostgreSQL cluster of Debian's binaries (:mod:`sim.postgres`),
restarted before each size is measured, with the OS page cache dropped where the platform
allows it (as root on Linux), so both sizes are measured cold. With
``CROSSVAULT_BENCH_DATABASE_URL`` the benchmark uses that database instead and cannot restart
it (only the vault server is restarted); without PostgreSQL binaries it falls back to
embedded SQLite. The report's note says which was measured and what was dropped."""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from sqlalchemy import func, select

from sim.benchmarks import Measurement, accounts
from sim.benchmarks.api import DOCTOR
from sim.benchmarks.api import _deposit_records as deposit_records
from sim.postgres import Cluster, PostgresHarnessError, find_postgres_binaries, throwaway_cluster
from sim.server import ServerOptions, running_server
from vault.core.settings import Settings
from vault.runtime.opening import Vault, provision
from vault.seeding.bulk import SeedPlan, seed
from vault.store.tables import Record

SMALL, PER_PERSON, LISTED, REQUESTS = 10_000, 10, 50, 300


# Makes the database cold before a size is measured; returns the (possibly new) URL and
# what it dropped.
Cooling = Callable[[], tuple[str | None, str]]


def run(scale: float) -> list[Measurement]:
    large = int(os.environ.get("CROSSVAULT_BENCH_VOLUME_LARGE", str(int(1_000_000 * scale))))
    sizes = (SMALL, max(large, SMALL))
    with tempfile.TemporaryDirectory() as tmp, _database() as (where, url, cool):
        settings = Settings(data_dir=Path(tmp) / "data", database_url=url)
        provision(settings)
        figures, held, seeded = {}, {}, []
        for size in sizes:
            held[size], rate = _seed_up_to(settings, size)
            seeded += [] if rate is None else [f"{rate:,.0f}"]
            url, dropped = cool()
            settings = settings.model_copy(update={"database_url": url})
            figures[size] = _measure(settings, size)
    small, big = figures[sizes[0]], figures[sizes[1]]
    where = (
        f"{where}; seeded at {' then '.join(seeded) or '-'} records/s; "
        f"cold before each size: {dropped}"
    )
    out = []
    for index, (what, percentile, target) in enumerate(
        (
            ("session list", "p50", 1.5),
            ("session list", "p99", 2.0),
            ("owner list", "p50", 1.5),
            ("owner list", "p99", 2.0),
        )
    ):
        out.append(
            Measurement(
                "volume",
                f"{what} {percentile}, {held[sizes[1]]:,} records vs {held[sizes[0]]:,}",
                big[index] * 1000,
                "ms",
                baseline=small[index] * 1000,
                target_ratio=None,
                note=f"{where}; large/small ≤ {target} wanted (lower is better)",
            )
        )
    return out


@contextlib.contextmanager
def _database() -> Iterator[tuple[str, str | None, Cooling]]:
    """(what is measured, its URL or None for SQLite, how to make it cold)."""
    given = os.environ.get("CROSSVAULT_BENCH_DATABASE_URL")
    if given:
        yield "PostgreSQL (CROSSVAULT_BENCH_DATABASE_URL)", given, lambda: (given, "nothing")
        return
    try:
        find_postgres_binaries()
    except PostgresHarnessError:
        yield "embedded SQLite (no PostgreSQL binaries)", None, lambda: (None, "nothing")
        return
    with throwaway_cluster() as cluster:
        yield "PostgreSQL (throw-away cluster)", cluster.url, lambda: _cold(cluster)


def _cold(cluster: Cluster) -> tuple[str | None, str]:
    dropped = cluster.restart()
    return cluster.url, dropped


def _measure(settings: Settings, size: int) -> tuple[float, float, float, float]:
    """Start a fresh server on the (cold) database and measure both lists."""
    options = ServerOptions(database_url=settings.database_url)
    with (
        running_server(settings.data_dir, options) as served,
        httpx.Client(base_url=served.base, timeout=60) as http,
    ):
        url, viewer, owner = _person_with_session(http, size)
        session = _latencies(http, url, viewer)
        own = _latencies(http, f"/v1/me/records?limit={LISTED}", owner)
    return (*_p50_p99(session), *_p50_p99(own))


def _seed_up_to(settings: Settings, size: int) -> tuple[int, float | None]:
    """Seed until the database holds about ``size`` records: (records held, as counted
    afterwards; the seeding rate in records/s, None if nothing was missing)."""
    vault = Vault.open(settings)
    try:
        missing = max(0, size - _records(vault)) // PER_PERSON
        rate = None
        if missing:
            processes = (os.cpu_count() or 1) if settings.database_url else 1
            plan = SeedPlan(missing, PER_PERSON, seed=size, add=True)
            rate = seed(vault, plan, processes=processes, settings=settings).records_per_second
        return _records(vault), rate
    finally:
        vault.close()


def _records(vault: Vault) -> int:
    with vault.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Record)).scalar() or 0)


def _person_with_session(
    http: httpx.Client, size: int
) -> tuple[str, dict[str, str], dict[str, str]]:
    """A person with 50 deposited records and an open cross-border session on them:
    (the session's list URL, the viewer's headers, the person's own headers)."""
    staff = accounts.onboarding(http)
    pid = accounts.register_person(http, f"Volume Person {size}", "1950-01-01")
    deposit_records(http, staff.professional("ha", *DOCTOR), pid, LISTED)
    me = accounts.citizen(http, pid)
    codes = http.post(
        "/v1/me/cross-border-authorisations", headers=me, json={"institution_id": "hku_sz"}
    ).raise_for_status()
    viewer = staff.professional("hku_sz", *DOCTOR)
    opened = http.post(
        "/v1/cross-border/sessions",
        headers=viewer,
        json={
            "application_code": codes.json()["application_code"],
            "passcode": codes.json()["passcode"],
        },
    ).raise_for_status()
    url = f"/v1/cross-border/sessions/{opened.json()['session_id']}/records?limit={LISTED}"
    return url, viewer, me


def _latencies(http: httpx.Client, url: str, headers: dict[str, str]) -> list[float]:
    for _ in range(20):  # warm-up
        http.get(url, headers=headers).raise_for_status()
    took = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        answer = http.get(url, headers=headers)
        took.append(time.perf_counter() - began)
        assert answer.status_code == 200 and len(answer.json()["items"]) == LISTED
    return took


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]
