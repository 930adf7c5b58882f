"""``crossvault simulate`` end to end, over real HTTP against real servers: a tiny run of a
shortened default scenario under the default policy and, side by side, every other shipped
policy (``--compare all``: the break-glass rule and the five-year lookback); the same seed
again (embedded SQLite, or with ``--db=postgresql`` a PostgreSQL deployment through
``--url``) with one client thread instead of four giving the same counts; the report's
files; and Ctrl-C leaving a valid partial report (and, without a server, waiting for every
run side by side to end)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.image
import pytest

from sim.onboarding import APPROVER
from sim.postgres import scratch_database
from sim.server import OPERATOR_SECRET, ServerOptions, running_server
from sim.simulation import report
from sim.simulation.run import _execute
from sim.simulation.scenario import default_scenario_path
from tests.support.databases import DatabaseKind
from vault.keys.keyring import KEYRING_FILENAME, LocalKeyring
from vault.store.schema import upgrade

SEED = 7
SCALE = 0.001  # 14 cross-border users, 16 applications, 25 folder records, 2 radiology
# --compare all: the report's directories, in order
PARTS = ("1-baseline", "2-break-glass", "3-five-year-lookback")
FIVE_YEARS = "3-five-year-lookback"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMMAND = (sys.executable, "-m", "crossvault", "simulate")


def tiny_scenario(directory: Path) -> Path:
    """The default scenario over four months (pilot's end, the opening, radiology's
    launch) instead of twenty: the same keys, fewer simulated days."""
    text = default_scenario_path().read_text()
    text = text.replace("start = 2024-07-15", "start = 2025-11-10")
    text = text.replace("end = 2026-02-28", "end = 2026-02-15")
    path = directory / "tiny.toml"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str
    out: Path

    def summary(self, part: str = "") -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.out / part / "summary.json").read_text())
        return loaded


class Launched:
    """``crossvault simulate`` running in a subprocess (output to files, so that several
    can run side by side without filling a pipe)."""

    def __init__(self, out: Path, *args: str) -> None:
        self.out = out
        out.mkdir(parents=True)
        self.stdout, self.stderr = out / "stdout.txt", out / "stderr.txt"
        with self.stdout.open("w") as stdout, self.stderr.open("w") as stderr:
            self.process = subprocess.Popen(
                [*COMMAND, "--out", str(out), *args],
                stdout=stdout,
                stderr=stderr,
                env=_environment(),
                preexec_fn=_ctrl_c_as_in_a_terminal,
            )

    def wait(self, timeout: float = 600) -> Finished:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        return Finished(code, self.stdout.read_text(), self.stderr.read_text(), self.out)


def interrupt(out: Path, *args: str) -> Finished:
    """Start a run, press Ctrl-C (SIGINT) shortly after its events have started."""
    run = Launched(out, *args)
    started = time.monotonic()
    while "\nsimulating " not in "\n" + run.stderr.read_text():  # said once events start
        assert run.process.poll() is None, run.stderr.read_text()
        assert time.monotonic() - started < 300, "the simulation never started"
        time.sleep(0.05)
    time.sleep(1.0)
    run.process.send_signal(signal.SIGINT)
    return run.wait()


def _ctrl_c_as_in_a_terminal() -> None:
    """SIGINT at its default in the run, as a shell starts a command: a test worker may
    have inherited it ignored (a child inherits an ignored signal across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSVAULT_")}
    env["COLUMNS"] = "120"
    return env


def valid_png(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG that decodes completely."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    return width, height


@contextmanager
def served_url(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, data_dir: Path
) -> Iterator[str | None]:
    """None (the command starts its own embedded server), or with ``--db=postgresql`` a
    PostgreSQL deployment with a simulated clock, for ``--url``."""
    if db_kind == "sqlite":
        yield None
        return
    admin_url: str = request.getfixturevalue("postgres_server_url")
    with scratch_database(admin_url, "simulate") as url:
        upgrade(url)
        LocalKeyring.create(data_dir / KEYRING_FILENAME)
        with running_server(
            data_dir, ServerOptions(database_url=url, simulated_clock=True)
        ) as served:
            yield served.base


@dataclass(frozen=True)
class Runs:
    compared: Finished  # default, then every other shipped policy (--compare all)
    again: Finished  # default again, same seed, one client thread instead of four, one
    # server process instead of two
    # (--url on PostgreSQL with --db=postgresql)
    interrupted: Finished  # Ctrl-C shortly after the start


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    """Every run this module checks, started side by side (each has its own servers)."""
    base = tmp_path_factory.mktemp("simulate")
    scenario = tiny_scenario(base)
    common = ("--scenario", str(scenario), "--seed", str(SEED), "--scale", str(SCALE))
    compare = Launched(base / "compare", *common, "--compare", "all")
    with ThreadPoolExecutor(max_workers=1) as pool:
        stopped = pool.submit(
            interrupt,
            base / "interrupted",
            *("--scenario", str(scenario), "--seed", "3", "--scale", str(SCALE)),
            *("--server-workers", "1"),
        )
        with served_url(request, db_kind, base / "data") as url:
            extra = (
                ()
                if url is None
                else (
                    "--url",
                    url,
                    "--operator-secret",
                    OPERATOR_SECRET,
                    "--approver",
                    ":".join(APPROVER),
                )
            )
            # one client thread instead of six: the same counts whatever the concurrency
            # and a one-process server instead of two (the --compare runs')
            single = ("--workers", "1", "--server-workers", "1")
            again = Launched(base / "again", *common, *single, *extra).wait()
        return Runs(compare.wait(), again, stopped.result())


@pytest.fixture(scope="module")
def compared(runs: Runs) -> Finished:
    assert runs.compared.code == 0, runs.compared.stderr
    return runs.compared


# --- one run, checked against the scenario ----------------------------------------------


def test_a_tiny_run_completes_with_counts_that_fit_the_scenario(compared: Finished) -> None:
    summary = compared.summary("1-baseline")
    assert summary["complete"] is True and summary["stopped_by"] is None
    assert summary["policy"]["name"] == "default" and summary["seed"] == SEED
    assert summary["events"]["done"] == summary["events"]["planned"] > 200
    counts = summary["counts"]
    assert counts["population"]["people"] == 18 and counts["population"]["cross_border_users"] == 14
    planned = counts["planned"]
    assert planned["setup.Register"] == 18
    assert planned["UploadToFolder"] == 25 and planned["AuthoriseRadiology"] == 2
    assert 16 <= planned["Apply"] <= 20  # 16 (1.143 per user) plus re-applications
    calls = counts["calls"]
    assert calls["register_person"] == {"ok": 18}
    assert calls["apply_cross_border"]["ok"] == counts["totals"]["applications"] >= 14
    assert counts["totals"]["folder_uploads"] == 25
    assert calls["authorise_radiology"] == {"ok": 2}
    # a deposit follows its authorisation by up to three days: one may fall after the end
    assert calls["complete_radiology_deposit"] == {"ok": planned["DepositRadiology"]}
    assert 1 <= planned["DepositRadiology"] <= 2


def test_cross_border_viewers_only_ever_see_ehrs_within_the_lookback(compared: Finished) -> None:
    cross_border = compared.summary("1-baseline")["counts"]["cross_border"]
    assert cross_border["records_listed"] > 0
    assert cross_border["lookback_violations"] == 0
    assert cross_border["hidden_by_lookback"] > 0  # eight years of history, three visible
    audit = compared.summary("1-baseline")["counts"]["audit"]["mainland_professional"]
    assert audit["denied"]["outside_lookback"] >= 1  # the probe for an older record


def test_the_audit_log_read_back_names_reasons_and_actor_kinds(compared: Finished) -> None:
    counts = compared.summary("1-baseline")["counts"]
    audit = counts["audit"]
    # (the operators' and admins' onboarding is on the system chain, about no person)
    assert set(audit) >= {"citizen", "caregiver", "hk_professional", "mainland_professional"}
    mainland = audit["mainland_professional"]
    sessions = counts["totals"]["sessions"]
    assert mainland["allowed"]["cross_border_authorisation"] == sessions > 0
    assert mainland["allowed"]["cross_border_session"] >= counts["totals"]["cross_border_views"]
    assert mainland["denied"]["wrong_passcode"] >= 1
    assert mainland["denied"]["codes_locked_out"] == 1  # the guessing attack
    assert mainland["denied"]["wrong_institution"] >= 1  # B's token on A's session
    assert mainland["denied"]["authorisation_revoked"] >= 1  # read after revocation
    assert audit["citizen"]["denied"]["not_eligible"] >= 1  # under 65 in the pilot
    answers = counts["answers_by_actor"]["mainland_professional"]["denied"]
    assert answers["invalid_codes"] >= 1 and answers["locked_out"] == 1
    assert answers["not_found"] >= 2  # invisibility: refused reads are plain 404s (R10)
    notifications = counts["notifications"]
    by_event = notifications["by_event"]
    assert by_event["cross_border_session_opened"] == sessions
    assert by_event["read_content"] >= counts["totals"]["cross_border_views"]
    assert notifications["total"] == sum(by_event.values())
    metrics = counts["policy_decisions"]
    assert metrics["allowed"]["cross_border_session"] == mainland["allowed"]["cross_border_session"]


def test_records_deposited_per_institution_and_folder_sources(compared: Finished) -> None:
    counts = compared.summary("1-baseline")["counts"]
    deposited = counts["records_deposited_by_institution"]
    assert deposited["ha"] > 0
    depositors = {"hku_sz", "zhongshan_chen_xinghai", "shenzhen_new_frontier_united_family"}
    radiology = sum(n for iid, n in deposited.items() if iid in depositors)
    studies = counts["calls"]["complete_radiology_deposit"]["ok"]
    assert radiology == studies * 3 > 0  # each study: two DICOM instances and a report
    sources = counts["folder_records_by_source"]
    assert sum(sources.values()) == 25
    assert "ha" not in sources


def test_the_report_files_are_valid(compared: Finished) -> None:
    for part in PARTS:
        for name in ("activity.png", "denials.png"):
            width, height = valid_png(compared.out / part / name)
            assert width > 400 and height > 200
        latency = compared.summary(part)["latency_ms"]
        assert latency["open_session"]["n"] >= 1
        assert 0 < latency["open_session"]["p50"] <= latency["open_session"]["p99"]
    valid_png(compared.out / "comparison.png")
    valid_png(compared.out / "for_people.png")
    assert "Decisions by actor kind and reason" in compared.stdout
    assert "Latency per call kind" in compared.stdout


def test_the_calibration_table_matches_the_published_figures_at_scale(
    compared: Finished,
) -> None:
    """Counts are planned as whole quotas (published x scale, rounded), so at this scale
    a count may be off by the rounding only (one); a share is a quota of the folder's
    records or of the voucher transactions, so it may be off by one of them. The amount
    claimed is a sum of random claims (a spread of about 0.65 each): within four standard
    errors of its expected value."""
    summary = compared.summary("1-baseline")
    rows = {row["figure"]: row for row in summary["calibration"]}
    assert len(rows) == 12
    records = summary["counts"]["totals"]["folder_uploads"]
    transactions = summary["counts"]["programmes"]["voucher"]["transactions"]
    slack = {
        "share": 1 / min(records, transactions),
        "HKD": 4 * 0.65 / transactions**0.5 * round(79_560_000 * SCALE),
    }
    for row in rows.values():
        assert row["expected"] == (
            row["published"] if row["unit"] == "share" else max(1, round(row["published"] * SCALE))
        )
        assert abs(row["simulated"] - row["expected"]) <= slack.get(row["unit"], 1), row
        assert row["ratio"] == round(row["simulated"] / row["expected"], 4)
    assert rows["cross-border record users"]["expected"] == 14
    assert rows["radiology authorisations, first three weeks"]["as_of"] == "2026-02-17"
    assert "Calibration: published figures at scale" in compared.stdout
    width, _ = valid_png(compared.out / "1-baseline" / "calibration.png")
    assert width > 400


# --- --compare ------------------------------------------------------------------------------


def test_a_five_year_lookback_shows_cross_border_viewers_more(compared: Finished) -> None:
    baseline = compared.summary("1-baseline")["counts"]
    variant = compared.summary(FIVE_YEARS)["counts"]
    assert compared.summary(FIVE_YEARS)["policy"]["lookback_years"] == 5
    assert variant["planned"] == baseline["planned"]  # the same people and timeline
    assert variant["totals"]["sessions"] == baseline["totals"]["sessions"]
    more = variant["cross_border"]["records_listed"] - baseline["cross_border"]["records_listed"]
    assert more > 0
    assert (
        variant["cross_border"]["hidden_by_lookback"]
        < baseline["cross_border"]["hidden_by_lookback"]
    )
    assert variant["cross_border"]["lookback_violations"] == 0
    against = comparison_of(compared)["variants"][1]
    assert against["summary"] == f"{FIVE_YEARS}/summary.json"
    listed = against["figures"]["records listed to cross-border viewers"]
    assert listed["delta"] == more
    assert "delta" in compared.stdout and "five-year-lookback" in compared.stdout


def comparison_of(compared: Finished) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((compared.out / "comparison.json").read_text())
    return loaded


def test_compare_all_runs_every_other_shipped_policy(compared: Finished) -> None:
    assert sorted(p.name for p in compared.out.iterdir() if p.is_dir()) == list(PARTS)
    comparison = comparison_of(compared)
    assert comparison["format"] == "crossvault-simulation-comparison/2"
    assert comparison["baseline"]["policy"]["name"] == "default"
    assert [v["policy"]["name"] for v in comparison["variants"]] == [
        "break-glass",
        "five-year-lookback",
    ]
    assert [v["summary"] for v in comparison["variants"]] == [
        f"{p}/summary.json" for p in PARTS[1:]
    ]
    assert all(v["for_people"]["same_people"] for v in comparison["variants"])
    assert "What five-year-lookback changes for people" in compared.stdout
    assert "What break-glass changes for people" in compared.stdout


def test_what_a_five_year_lookback_changes_for_people(compared: Finished) -> None:
    """More records visible to Mainland clinicians, for more people and never fewer; the
    per-person counts add up to the run's own figures."""
    for part in PARTS:
        counts = compared.summary(part)["counts"]
        by_person = counts["records_visible_by_person"]
        assert sum(by_person.values()) == counts["cross_border"]["distinct_records_visible"]
        assert len(by_person) == counts["cross_border"]["people_with_records_visible"] > 0
        denied = counts["people_denied_by_reason"]
        assert denied.keys() == report.denials_by_reason(counts).keys()
    against = comparison_of(compared)["variants"][1]
    people = against["for_people"]
    assert people["same_people"] is True
    visible = people["records_visible"]
    assert visible["delta"] > 0
    assert visible == against["figures"]["distinct records visible cross-border"]
    assert people["people_with_more_records_visible"] > 0
    assert people["people_with_fewer_records_visible"] == 0
    assert people["people_with_records_visible"]["delta"] >= 0
    assert people["cross_border_record_views"] == against["figures"]["cross-border record views"]
    outside = people["denials_by_reason"]["outside_lookback"]
    assert outside["decisions"] == against["denials_by_reason"]["outside_lookback"]
    assert 0 < outside["people"]["baseline"] <= outside["decisions"]["baseline"]


# --- determinism ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_counts(runs: Runs, compared: Finished) -> None:
    again = runs.again
    assert again.code == 0, again.stderr
    first, second = compared.summary("1-baseline"), again.summary()
    assert second["complete"] is True
    assert second["counts"] == first["counts"]
    assert second["events"] == first["events"]
    assert second["latency_ms"] != {}  # reported, but not part of the comparison
    assert first["events_per_second"] > 0 and second["events_per_second"] > 0


# --- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_stops_cleanly_with_a_valid_partial_report(runs: Runs) -> None:
    stopped = runs.interrupted
    assert stopped.code == 130, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert "interrupted; partial report" in stopped.stderr
    summary = stopped.summary()
    assert summary["complete"] is False and summary["stopped_by"] == "interrupt"
    events = summary["events"]
    assert 0 < events["done"] < events["planned"]
    counts = summary["counts"]
    assert counts["audit"] is None  # not read back: the run did not finish
    assert counts["calls"]["register_person"]["ok"] > 0
    permitted = sum(a["permitted"] for a in counts["answers_by_actor"].values())
    assert permitted > 0
    for name in ("activity.png", "denials.png"):
        valid_png(stopped.out / name)
    assert "(partial)" in stopped.stdout


class SlowToStop:
    """A run that goes on until told to stop, then takes a while over its partial report."""

    def __init__(self, started: threading.Barrier) -> None:
        self.started = started
        self.outcome: str | None = None

    def run(self, stop: threading.Event) -> None:
        self.started.wait()
        stop.wait(30)
        time.sleep(0.3)  # writing its partial report
        self.outcome = "partial" if stop.is_set() else "never stopped"


def test_ctrl_c_waits_for_every_run_side_by_side_to_end() -> None:
    """Ctrl-C in the waiting thread stops every run, and waits for each to end (on Python
    3.11 an interrupted ``Thread.join`` could let it go on without the slower ones)."""
    stop = threading.Event()
    started = threading.Barrier(4)
    fakes = [SlowToStop(started) for _ in range(3)]
    runs = [SimpleNamespace(run=partial(f.run, stop)) for f in fakes]

    def press_ctrl_c() -> None:
        started.wait()
        time.sleep(0.2)  # the main thread is waiting by now
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=press_ctrl_c).start()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        _execute(runs, stop)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stop.is_set()
    assert [f.outcome for f in fakes] == ["partial"] * 3
