"""``crossvault demo`` against real servers: one the test starts (``--url``; SQLite or
PostgreSQL per ``--db``) and one the command starts itself; what each step did, what the
narration never shows, and how bad input is refused."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from rich.console import Console
from typer.testing import CliRunner

from crossvault.cli import app
from policies.dates import shift_years
from sim.demo import HA_RECORDS, PLAINTEXT_CONTENT, DemoResult, main, run_demo, today_in_hong_kong
from sim.onboarding import APPROVER, LOCAL
from sim.postgres import scratch_database
from sim.server import OPERATOR_SECRET, ServerOptions, running_server
from tests.support.databases import DatabaseKind
from vault.keys.keyring import KEYRING_FILENAME, LocalKeyring
from vault.store.schema import upgrade

UNSHOWN_CODE = re.compile(r"\b(?:CB|PC|RA)-[0-9A-Z]{4}")  # a code printed beyond its prefix
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}")


@dataclass(frozen=True)
class Run:
    result: DemoResult
    output: str


@pytest.fixture(scope="module")
def server_url(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A ``crossvault serve`` the test starts: embedded SQLite, or a deployment on the
    session's PostgreSQL (migrated, keyring supplied)."""
    data_dir = tmp_path_factory.mktemp("demo-server") / "data"
    if db_kind == "sqlite":
        with running_server(data_dir) as served:
            yield served.base
        return
    admin_url: str = request.getfixturevalue("postgres_server_url")
    with scratch_database(admin_url, "demo") as url:
        upgrade(url)
        LocalKeyring.create(data_dir / KEYRING_FILENAME)
        with running_server(data_dir, ServerOptions(database_url=url)) as served:
            yield served.base


@pytest.fixture(scope="module")
def run(server_url: str) -> Run:
    """The demo, once, in-process against the test's server (as ``--url`` would)."""
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    result = run_demo(server_url, LOCAL, console)
    return Run(result, out.getvalue())


def _in_lookback(today: date) -> list[str]:
    since = shift_years(today, -3)
    dates = [today - timedelta(days=r.days_ago) for r in HA_RECORDS]
    return sorted(d.isoformat() for d in dates if since <= d <= today)


def test_every_step_ran_and_every_call_was_shown(run: Run) -> None:
    assert [s.number for s in run.result.steps] == list(range(1, 11))
    exchanges = [e for s in run.result.steps for e in s.exchanges]
    assert run.output.count("← ") == len(exchanges) > 40
    assert "All ten steps answered as expected" in run.output


def test_the_person_joins(run: Run) -> None:
    step = run.result.step(1)
    assert step.facts["joined"] is True
    assert step.answers("POST", "/v1/persons")[0].status == 201


def test_ha_deposits_records_over_five_years(run: Run) -> None:
    facts = run.result.step(2).facts
    assert facts["deposited"] == len(HA_RECORDS) == 10
    dates = [date.fromisoformat(d) for d in facts["dates"]]  # type: ignore[union-attr]
    today = today_in_hong_kong()
    assert shift_years(today, -5) <= min(dates) and max(dates) <= today
    assert max(dates) - min(dates) > timedelta(days=4 * 365)
    assert {e.status for e in run.result.step(2).answers("POST", "/records")} == {201}


def test_the_application_gives_two_qr_codes(run: Run) -> None:
    facts = run.result.step(3).facts
    assert facts["qr_codes"] == ("image/png", "image/png")


def test_the_cross_border_view_shows_exactly_the_last_three_years(run: Run) -> None:
    facts = run.result.step(4).facts
    today = today_in_hong_kong()
    visible = _in_lookback(today)
    assert 0 < len(visible) < len(HA_RECORDS)
    assert facts["visible"] == len(visible)
    assert facts["total"] == len(HA_RECORDS)
    assert facts["earliest_visible"] == visible[0]
    assert facts["visible_since"] == shift_years(today, -3).isoformat()
    assert facts["sources"] == ("ehr",)
    assert f"{len(visible)} of the {len(HA_RECORDS)} records deposited are visible" in run.output


def test_the_person_sees_the_view_and_is_notified(run: Run) -> None:
    facts = run.result.step(5).facts
    assert "open_viewing_session" in facts["log_actions"]  # type: ignore[operator]
    assert "list_records" in facts["log_actions"]  # type: ignore[operator]
    assert "list_records" in facts["notification_events"]  # type: ignore[operator]
    assert isinstance(facts["notifications"], int) and facts["notifications"] >= 1


def test_the_study_is_deposited_under_the_radiology_authorisation(run: Run) -> None:
    assert run.result.step(6).answers("POST", "/radiology-authorisations")[0].status == 201
    facts = run.result.step(7).facts
    assert facts["deposit_state"] == "completed"
    assert facts["folder_records"] == facts["files"] == 3
    assert facts["folder_categories"] == (
        "radiology_images",
        "radiology_images",
        "radiology_report",
    )
    assert facts["authorisation_status"] == "used"


def test_the_hong_kong_doctor_reads_the_shared_folder_only(run: Run) -> None:
    facts = run.result.step(8).facts
    assert facts["consent_active"] is True
    assert facts["listed"] == 3 and facts["sources"] == ("personal_folder",)
    assert facts["read_status"] == 200
    assert facts["is_dicom"] is True and facts["digest_matches_receipt"] is True


def test_revocation_ends_access_at_once(run: Run) -> None:
    facts = run.result.step(9).facts
    assert facts["revoke_status"] == 204
    assert (facts["list_status"], facts["list_code"]) == (404, "not_found")
    assert (facts["reopen_status"], facts["reopen_code"]) == (403, "authorisation_inactive")


def test_non_designated_institutions_and_a_wrong_passcode_are_refused(run: Run) -> None:
    facts = run.result.step(10).facts
    assert facts["hk_institution"] == "422 not_a_mainland_institution"
    assert facts["radiology_not_depositor"] == "403 radiology_authorisation_not_permitted"
    assert facts["other_institution"] == "400 invalid_codes"
    assert facts["wrong_passcode"] == "400 invalid_codes"
    reasons = facts["logged_reasons"]
    assert isinstance(reasons, tuple)
    assert {"wrong_institution", "wrong_passcode", "not_radiology_depositor"} <= set(reasons)
    for code in ("not_a_mainland_institution", "radiology_authorisation_not_permitted"):
        assert code in run.output


def test_no_content_secret_token_or_code_is_printed(run: Run) -> None:
    for content in PLAINTEXT_CONTENT:
        assert content not in run.output
    assert OPERATOR_SECRET not in run.output and APPROVER[1] not in run.output
    assert not JWT.search(run.output)
    assert not UNSHOWN_CODE.search(run.output)
    assert "CB-••••" in run.output and "PC-••••" in run.output and "RA-••••" in run.output
    assert "WONG^SIU MING" not in run.output  # the DICOM header's patient name


def test_an_unexpected_answer_stops_the_demo_with_one_line(
    server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    console = Console(file=io.StringIO(), width=100)
    code = main(
        server_url, "not-the-operator-secret-0123456789", ":".join(APPROVER), console=console
    )
    assert code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        "crossvault demo: stopped at step 2 (The Hospital Authority deposits records dated "
        "over five years): POST /v1/auth/token answered 400 invalid_client, expected 200"
    )


def test_the_command_starts_its_own_server(db_kind: DatabaseKind) -> None:
    if db_kind != "sqlite":
        pytest.skip("the self-started server is always embedded SQLite: tested under --db=sqlite")
    result = CliRunner().invoke(app, ["demo", "--plain"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Starting a crossvault server" in result.stdout
    assert "All ten steps answered as expected" in result.stdout
    assert "\x1b[" not in result.stdout  # --plain: no colours or styles
    for content in PLAINTEXT_CONTENT:
        assert content not in result.stdout
    assert result.stderr == ""


def test_an_unreachable_url_is_one_line_and_a_failure() -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--url", "http://127.0.0.1:1"],
        env={
            "CROSSVAULT_OPERATOR_SECRET": OPERATOR_SECRET,
            "CROSSVAULT_APPROVER": ":".join(APPROVER),
        },
    )
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "crossvault demo: cannot reach http://127.0.0.1:1: connection refused"
    ]


def test_url_without_an_operator_secret_is_refused() -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--url", "http://127.0.0.1:1"],
        env={"CROSSVAULT_OPERATOR_SECRET": None},
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "crossvault demo: --url needs --operator-secret (or CROSSVAULT_OPERATOR_SECRET)"
    ]


def test_url_without_a_second_operator_is_refused() -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--url", "http://127.0.0.1:1"],
        env={"CROSSVAULT_OPERATOR_SECRET": OPERATOR_SECRET, "CROSSVAULT_APPROVER": None},
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "crossvault demo: onboarding an institution takes a second operator "
        "(--approver CLIENT_ID:SECRET, or CROSSVAULT_APPROVER)"
    ]


def test_the_demo_drives_http_only() -> None:
    """``sim.demo`` imports neither ``api`` nor ``vault`` nor ``policies``: it drives HTTP."""
    probe = (
        "import sys, sim.demo; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'api', 'vault', 'policies'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
