"""Latency at size (opt-in: ``crossvault bench --only volume``, never in the default run):
p50 and p99 of one person's cross-border session list (50 records) and of their own list,
with the database holding about 10 thousand records in all, then about
``CROSSVAULT_BENCH_VOLUME_LARGE`` (default 1,000,000 times ``--scale``), seeded with
:mod:`vault.seeding.bulk`. The server is restarted between sizes (a cold process); the
database's own cache is not dropped (an external ``CROSSVAULT_BENCH_DATABASE_URL`` cannot
be restarted from here). Targets: large/small at most 1.5 (p50) and 2 (p99)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from sim.benchmarks import Measurement, accounts
from sim.benchmarks.api import DOCTOR
from sim.benchmarks.api import _deposit_records as deposit_records
from sim.server import ServerOptions, running_server
from vault.core.settings import Settings
from vault.runtime.opening import Vault, provision
from vault.seeding.bulk import SeedPlan, seed
from vault.store.tables import Record

SMALL, PER_PERSON, LISTED, REQUESTS = 10_000, 10, 50, 300


def run(scale: float) -> list[Measurement]:
    database = os.environ.get("CROSSVAULT_BENCH_DATABASE_URL")
    large = int(os.environ.get("CROSSVAULT_BENCH_VOLUME_LARGE", str(int(1_000_000 * scale))))
    where = "PostgreSQL" if database else "SQLite (set CROSSVAULT_BENCH_DATABASE_URL)"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        settings = Settings(data_dir=data_dir, database_url=database)
        provision(settings)
        figures = {size: _at_size(settings, size) for size in (SMALL, max(large, SMALL))}
    small, big = figures[SMALL], figures[max(large, SMALL)]
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
                f"{what} {percentile}, {max(large, SMALL):,} records vs {SMALL:,}",
                big[index] * 1000,
                "ms",
                baseline=small[index] * 1000,
                target_ratio=None,
                note=f"{where}; large/small ≤ {target} wanted (lower is better)",
            )
        )
    return out


def _at_size(settings: Settings, size: int) -> tuple[float, float, float, float]:
    """Seed up to ``size`` records, start a fresh server, and measure."""
    vault = Vault.open(settings)
    try:
        with vault.engine.connect() as connection:
            held = int(connection.execute(select(func.count()).select_from(Record)).scalar() or 0)
        missing = max(0, size - held) // PER_PERSON
        if missing:
            seed(vault, SeedPlan(missing, PER_PERSON, seed=size, add=True))
    finally:
        vault.close()
    options = ServerOptions(database_url=settings.database_url)
    with (
        running_server(settings.data_dir, options) as served,
        httpx.Client(base_url=served.base, timeout=60) as http,
    ):
        url, viewer, owner = _person_with_session(http, size)
        session = _latencies(http, url, viewer)
        own = _latencies(http, f"/v1/me/records?limit={LISTED}", owner)
    return (*_p50_p99(session), *_p50_p99(own))


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
