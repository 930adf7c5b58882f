"""Bad input to ``crossvault simulate`` is refused in one line, exit 2, before any server
starts: a malformed scenario names the line (TOML syntax) or the exact key path, a
malformed policy the key, a ``--compare`` that names no policy the shipped ones, an
unreachable ``--url`` says so. And what a good ``--compare`` resolves to."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from policies.policy_file import POLICY_DIR, load_policy
from sim.server import free_port
from sim.simulation.inputs import Inputs, Options, compared_paths
from sim.simulation.run import EXIT_BAD_INPUT, main, parts
from sim.simulation.scenario import default_scenario_path, load_scenario

DEFAULT = default_scenario_path().read_text()
COMMAND = (sys.executable, "-m", "crossvault", "simulate")
ENVIRONMENT = {k: v for k, v in os.environ.items() if not k.startswith("CROSSVAULT_")}


def refusal(tmp_path: Path, **changes: Any) -> tuple[int, str]:
    """Run the command in-process; (exit code, what it printed on stderr)."""
    out, err = io.StringIO(), io.StringIO()
    options = Options(
        scenario=default_scenario_path(),
        policy=POLICY_DIR / "default.toml",
        seed=1,
        scale=0.01,
        out=tmp_path / "out",
    )
    code = main(
        replace(options, **changes),
        Console(file=out, width=200),
        Console(file=err, width=200),
    )
    return code, err.getvalue()


def scenario_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in DEFAULT, old
    path = tmp_path / "scenario.toml"
    path.write_text(DEFAULT.replace(old, new, 1))
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "per_person = 1.143",
            'per_person = "many"',
            "events.applications.per_person: expected a number, got 'many'",
        ),
        ("records = 25000", "records = -5", "events.folder.records: must not be negative"),
        (
            "views_per_visit = 3 ",
            "colour = 'blue'\nviews_per_visit = 3 ",
            "events.visits.colour: unknown key",
        ),
        (
            "hku_sz = 30",
            "hku_sz = 30\natlantis_general = 2",
            "events.applications.institution_weights.atlantis_general: unknown institution "
            "'atlantis_general' (not in policy 'default')",
        ),
        (
            '"hku_sz", "sysu_first_affiliated",',
            '"ha", "sysu_first_affiliated",',
            "events.folder.pilot_institutions[0]: 'ha' is not a mainland institution",
        ),
        ("pilot_share = 0.45", "pilot_share = 1.5", "events.folder.pilot_share: expected a share"),
        (
            "[[population.ages]]\nfrom = 2\nto = 15",
            "[[population.ages]]\nfrom = 2\nto = 1",
            ("population.ages[0].to: must not be below `from` (2), got 1"),
        ),
        (
            "per_person = 1.143",
            "per_persn = 1.143",
            "events.applications.per_person: missing (found 'per_persn': misspelt?)",
        ),
        ("start = 2024-07-15", 'start = "soon"', "start: expected a date (YYYY-MM-DD), got 'soon'"),
        (
            'unit = "records"',
            'unit = "HK$"',
            "calibration[2].unit: cannot scale 'HK$' (counts: people, applications, records, "
            "authorisations, transactions, visits, HKD; or 'share')",
        ),
        (
            'unit = "records"',
            'unit = "people"',
            "calibration[2].unit: folder_records is in records, not 'people'",
        ),
        (
            'measure = "folder_records"',
            'measure = "hospital_beds"',
            "calibration[2].measure: unknown measure 'hospital_beds'",
        ),
        ("published = 0.45", "published = 45", "calibration[3].published: expected a share"),
        (
            "from = 2024-06-01 ",
            "from = 2024-06-15 ",
            "programmes.voucher.from: 2024-06-15 contradicts the policy registry: no service "
            "point starts taking vouchers then (voucher_from days: 2015-10-06, 2024-06-01, "
            "2025-08-01)",
        ),
        (
            "from = 2023-05-10",
            "from = 2023-05-01",
            "programmes.ha_pilot.from: 2023-05-01 contradicts the policy registry "
            "(hku_sz: ha_pilot_from 2023-05-10)",
        ),
        (
            'institution = "hku_sz"',
            'institution = "dh"',
            "programmes.ha_pilot.institution: 'dh' is not a mainland institution",
        ),
        (
            "other = 0.24",
            "other = 0.34",
            "programmes.voucher.services: shares must add up to 1, got 1.1",
        ),
        (
            "enabled = true",
            'enabled = "yes"',
            "programmes.voucher.enabled: expected true or false, got 'yes'",
        ),
        (
            "transactions = 74956",
            "transactions = 100",
            "programmes.voucher.transactions: fewer transactions than users",
        ),
    ],
)
def test_a_malformed_scenario_names_the_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = scenario_with(tmp_path, old, new)
    code, err = refusal(tmp_path, scenario=path)
    assert code == EXIT_BAD_INPUT
    assert err.startswith(f"crossvault: {path}: {expected}"), err
    assert err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_a_toml_syntax_error_names_the_line_through_the_real_command(tmp_path: Path) -> None:
    path = scenario_with(tmp_path, "views_per_visit = 3 ", "views_per_visit == 3 ")
    line = line_of(path.read_text(), "views_per_visit ==")
    completed = subprocess.run(
        [*COMMAND, "--scenario", str(path), "--out", "out"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENVIRONMENT,
        cwd=tmp_path,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith(f"crossvault: {path}: line {line}, column ")
    assert "not valid TOML" in completed.stderr
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr


def test_a_missing_scenario_file_is_refused(tmp_path: Path) -> None:
    code, err = refusal(tmp_path, scenario=tmp_path / "nowhere.toml")
    assert code == EXIT_BAD_INPUT
    assert err.strip() == f"crossvault: {tmp_path / 'nowhere.toml'}: no such scenario file"


def test_a_malformed_policy_names_the_key(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f'extends = "{POLICY_DIR / "default.toml"}"\nlookback_years = "three"\n')
    code, err = refusal(tmp_path, policy=policy)
    assert code == EXIT_BAD_INPUT
    assert err.startswith(f"crossvault: {policy}") and "lookback_years" in err
    assert err.count("\n") == 1


def test_a_malformed_compare_policy_is_refused_before_either_run(tmp_path: Path) -> None:
    policy = tmp_path / "variant.toml"
    policy.write_text("name = 'x'\nunknown_rule = 1\n")
    code, err = refusal(tmp_path, compare=(policy,))
    assert code == EXIT_BAD_INPUT and "unknown_rule: unknown key" in err
    assert not (tmp_path / "out").exists()


def test_a_compare_that_names_no_policy_names_the_shipped_ones(tmp_path: Path) -> None:
    """Through the real command: the second of two ``--compare`` is neither a file nor a
    shipped policy."""
    completed = subprocess.run(
        [*COMMAND, "--compare", "five-year-lookback", "--compare", "ten-year", "--out", "out"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENVIRONMENT,
        cwd=tmp_path,
    )
    assert completed.returncode == EXIT_BAD_INPUT and completed.stdout == ""
    assert completed.stderr == (
        "crossvault: --compare ten-year: neither a policy file nor a policy shipped in "
        "policies/ (break-glass, default, five-year-lookback; or all)\n"
    )
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_compare_takes_files_shipped_names_and_all(tmp_path: Path) -> None:
    default, five = POLICY_DIR / "default.toml", POLICY_DIR / "five-year-lookback.toml"
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "default.toml"\nname = "mine"\n')  # (not read here)
    shipped = [default, POLICY_DIR / "break-glass.toml", five]
    assert compared_paths([str(mine), "five-year-lookback"], default) == [mine, five]
    assert compared_paths(["all"], default) == shipped[1:]
    assert compared_paths(["all"], tmp_path / ".." / tmp_path.name / "mine.toml") == shipped
    assert compared_paths(["all", "default"], five) == [*shipped[:2], default]


def test_each_run_has_a_directory_of_its_own(tmp_path: Path) -> None:
    policy = load_policy(POLICY_DIR / "five-year-lookback.toml")
    odd = replace(policy, name="what if? / 10y")
    scenario = load_scenario(default_scenario_path(), policy)
    runs = [Inputs(scenario, p, Path()) for p in (policy, policy, policy, odd)]
    assert parts(runs) == [
        "1-baseline",
        "2-five-year-lookback",
        "3-five-year-lookback",
        "4-what-if-10y",
    ]
    assert parts(runs[:1]) == [""]  # one run: the report in --out itself


def test_an_unreachable_url_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, err = refusal(
        tmp_path, url=url, operator_secret="s3cret-for-the-test", approver="operator-2:s3cret"
    )
    assert code == EXIT_BAD_INPUT
    assert err.startswith(f"crossvault: cannot reach the server at {url}: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scale": 0.0}, "--scale must be positive"),
        ({"scale": -1.0}, "--scale must be positive"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"server_workers": 0}, "--server-workers must be at least 1"),
        ({"url": "http://127.0.0.1:9"}, "--url needs the operator client's secret"),
        (
            {"url": "http://127.0.0.1:9", "operator_secret": "x"},
            "--url: onboarding an institution takes a second operator",
        ),
        (
            {"url": "http://127.0.0.1:9", "operator_secret": "x", "approver": "no-colon"},
            "--url: the approver is CLIENT_ID:SECRET",
        ),
        (
            {
                "url": "http://127.0.0.1:9",
                "operator_secret": "x",
                "compare": ("five-year-lookback",),
            },
            "--compare starts a fresh server per policy",
        ),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    code, err = refusal(tmp_path, **changes)
    assert code == EXIT_BAD_INPUT and expected in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_what_if_scenario_needs_a_server_of_its_own(tmp_path: Path) -> None:
    scenario = default_scenario_path().parent / "open-to-all-2024.toml"
    code, err = refusal(
        tmp_path,
        scenario=scenario,
        url="http://127.0.0.1:9",
        operator_secret="x",
        approver="operator-2:s3cret",
    )
    assert code == EXIT_BAD_INPUT
    assert err == (
        f"crossvault: {scenario}: what_if changes the policy the server runs; it needs a "
        "server of its own (without --url)\n"
    )
    assert not (tmp_path / "out").exists()
