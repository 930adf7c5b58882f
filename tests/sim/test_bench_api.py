"""The API benchmark's control server: the real app plus one route with the session
list's dependencies and answer but no vault work. It must answer exactly the list's
bytes, refuse exactly what the list refuses at the dependency stage, and leave no trace
in the vault (no audit entry, no notification), or it would not be a fair control."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from sim.benchmarks import framework_probe
from sim.benchmarks.api import (
    _capture_probe_body,
    _vault_share_ms,
    median_pair,
    open_viewing_session,
)
from sim.benchmarks.loadgen import LoadResult
from sim.server import ServerOptions, running_server
from tests.support.databases import DatabaseKind


def _counts(data_dir: Path) -> tuple[int, int]:
    engine = create_engine(f"sqlite:///{data_dir / 'crossvault.db'}")
    try:
        with engine.connect() as connection:
            audit = connection.execute(text("SELECT count(*) FROM auditentry")).scalar_one()
            told = connection.execute(text("SELECT count(*) FROM notification")).scalar_one()
            return int(audit), int(told)
    finally:
        engine.dispose()


def test_the_control_answers_the_lists_bytes_without_touching_the_vault(
    tmp_path: Path, db_kind: DatabaseKind
) -> None:
    if db_kind != "sqlite":
        pytest.skip("the benchmark serves embedded SQLite: tested under --db=sqlite")
    with running_server(tmp_path) as served:
        opened = open_viewing_session(served.base, records=3)
        url, headers = opened.url, opened.headers
        _capture_probe_body(tmp_path, url, headers)
        listed = httpx.get(url, headers=headers).raise_for_status().content
        with running_server(tmp_path, ServerOptions(factory=framework_probe.FACTORY)) as control:
            probe = control.base + framework_probe.probe_path(opened.session_id)
            before = _counts(tmp_path)
            answered = httpx.get(probe, headers=headers)
            assert answered.status_code == 200
            assert answered.headers["content-type"] == "application/json"
            assert _counts(tmp_path) == before  # no audit entry, no notification
            for sent, params in (({}, {}), (headers, {"limit": "0"})):
                theirs = httpx.get(probe, headers=sent, params=params)
                real = httpx.get(url.split("?")[0], headers=sent, params=params)
                assert theirs.status_code == real.status_code >= 400
                assert theirs.json()["code"] == real.json()["code"]
            openapi = httpx.get(f"{control.base}/openapi.json").json()
            assert not any(path.startswith("/bench") for path in openapi["paths"])
    # the list's own answer has changed since (each view notifies): compare the capture
    assert answered.content == (tmp_path / framework_probe.BODY_FILE).read_bytes()
    assert len(answered.content) == len(listed)


def test_the_vault_share_is_the_difference_of_per_request_times() -> None:
    def result(rps: float) -> LoadResult:
        return LoadResult(int(rps * 2), 0, 2.0, (1.0,))

    assert _vault_share_ms(result(200), result(1000)) == pytest.approx(4.0)
    assert _vault_share_ms(result(0), result(1000)) == 0.0


def test_the_reported_pair_is_the_median_rounds_not_the_best_of_each() -> None:
    """Rounds measured back to back: (list, control) of 100/400, 300/500 and 200/400 req/s
    have ratios 0.25, 0.6 and 0.5; the median round is the third. The best of each (300
    over 500) would pair the second round's list with its own control by chance only."""

    def rps(requests: int) -> LoadResult:
        return LoadResult(requests, 0, 1.0, (1.0,))

    listed, control = [rps(100), rps(300), rps(200)], [rps(400), rps(500), rps(400)]
    chosen = median_pair(listed, control)
    assert (chosen[0].rps, chosen[1].rps) == (200, 400)
    with pytest.raises(ValueError):
        median_pair(listed, control[:2])
