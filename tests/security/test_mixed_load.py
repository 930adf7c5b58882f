"""Load (issue 8, item 7): a mixed workload against a real ``crossvault serve``.

Eight clients — the benchmarks' concurrency — read as citizens, Hong Kong providers
and Mainland professionals, grant and revoke sharing consents and cross-border
authorisations, deposit eHRs, upload to Personal Folders and deposit radiology studies
(see ``support_load.py``) for ``CROSSVAULT_LOAD_SECONDS`` (default 60) after a short
warm-up, against one server process (one uvicorn worker) on the selected database.

Then: no 5xx and no answer other than the one the client's own state predicts; no
client hung; the server's RSS (``VmRSS``) grew by less than :data:`RSS_GROWTH_MIB`
between the end of the warm-up and the end of the run; every write answered 2xx is
there (records listed and opening to what was sent, radiology files, consents and
authorisations listed and in force exactly when they should be); the audit chain
verifies. The figures are printed and written to ``load-figures.json`` in the test's
temporary directory.

tests/api/test_concurrency_postgres.py races grants, revocations and reads on one
consent for R8 on PostgreSQL; this workload is broader and runs on both databases.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.server import OPERATOR_SECRET, ServerOptions, running_server
from tests.security.support_load import (
    CLIENTS,
    Client,
    RssSampler,
    figures,
    operator_login,
    prepare,
    rss_kib,
    run_clients,
    verify,
)
from tests.support.databases import DatabaseKind
from vault.core.settings import Settings
from vault.runtime.opening import provision

SECONDS = float(os.environ.get("CROSSVAULT_LOAD_SECONDS", "60"))
WARM_UP_SECONDS = min(10.0, max(3.0, SECONDS / 6))
RSS_GROWTH_MIB = 64


def _summary(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [
        f"mixed load on {report['database']}: {run['seconds']} s, {CLIENTS} clients, "
        f"{run['requests']} requests, {run['requests_per_second']} req/s, "
        f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, max {run['max_ms']} ms",
        f"  server RSS: {report['rss_mib']['start']} MiB after warm-up, "
        f"{report['rss_mib']['end']} MiB at the end (peak {report['rss_mib']['peak']}, "
        f"growth {report['rss_mib']['growth']}; every 10 s: {report['rss_mib']['every_10s']})",
        f"  statuses: {run['statuses']}",
    ]
    for kind, numbers in run["by_kind"].items():
        lines.append(
            f"  {kind:<34} {numbers['requests']:>6}  p50 {numbers['p50_ms']:>7} ms"
            f"  p99 {numbers['p99_ms']:>7} ms"
        )
    lines.append(f"  figures: {report['file']}")
    return "\n".join(lines)


def test_a_mixed_workload_loses_nothing_and_stays_flat(
    database_url: str, db_kind: DatabaseKind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    provision(
        Settings(
            data_dir=data_dir,
            database_url=database_url,
            operator_secret=OPERATOR_SECRET,
            clock="simulated",
        )
    )
    with running_server(
        data_dir, ServerOptions(database_url=database_url, simulated_clock=True)
    ) as served:
        credentials = prepare(served.base)
        clients = [Client(served.base, credentials, seed) for seed in range(CLIENTS)]
        try:
            warm, _, warm_hung = run_clients(clients, WARM_UP_SECONDS)
            rss_start = rss_kib(served.pid)
            with RssSampler(served.pid) as sampler:
                stats, elapsed, hung = run_clients(clients, SECONDS)
            rss_end = rss_kib(served.pid)
            lost = verify(served.base, [p for c in clients for p in c.people])
            with httpx.Client(base_url=served.base, timeout=120) as http:
                audit = http.get(
                    "/v1/admin/audit/verify", headers=operator_login(http).headers()
                ).json()
        finally:
            for client in clients:
                client.close()

    mib = 1024
    report = {
        "database": db_kind,
        "clients": CLIENTS,
        "server_workers": 1,
        "warm_up_seconds": WARM_UP_SECONDS,
        "run": figures(stats, elapsed),
        "rss_mib": {
            "start": round(rss_start / mib, 1),
            "end": round(rss_end / mib, 1),
            "peak": round(max([rss_start, rss_end, *sampler.samples]) / mib, 1),
            "growth": round((rss_end - rss_start) / mib, 1),
            "every_10s": [round(kib / mib, 1) for kib in sampler.samples[::20]],
        },
        "audit": audit,
        "file": str(tmp_path / "load-figures.json"),
    }
    Path(report["file"]).write_text(json.dumps(report, indent=2))
    with capsys.disabled():
        print("\n" + _summary(report))

    assert warm.server_errors == 0 and stats.server_errors == 0, stats.statuses
    assert warm_hung == [] and hung == [], "clients hung"
    assert warm.errors == [] and stats.errors == [], stats.errors[:20]
    assert warm.unexpected == [] and stats.unexpected == [], stats.unexpected[:20]
    assert stats.requests > 0
    assert lost == [], lost[:20]
    assert audit["valid"] is True, audit
    assert rss_end - rss_start < RSS_GROWTH_MIB * mib, report["rss_mib"]
