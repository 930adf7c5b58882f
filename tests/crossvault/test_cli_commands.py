"""The command line reads well: ``--help`` names every command in plain sentences,
``bench --only`` names its suites, ``init`` provisions once, ``reset`` clears the embedded
data dir only after a confirmation, and ``make run`` takes ``HOST``/``PORT``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from crossvault.cli import app
from sim.benchmarks import SUITES
from vault.keys.keyring import KEYRING_FILENAME
from vault.store.schema import SchemaStatus, current_state

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _every_command() -> list[str]:
    names: list[str] = []
    top = get_command(app)
    for name, command in top.commands.items():  # type: ignore[attr-defined]
        subs = getattr(command, "commands", None)
        names.extend(f"{name} {sub}" for sub in subs) if subs else names.append(name)
    return names


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded data dir, and no deployment settings from the environment."""
    for name in ("DATABASE_URL", "CROSSVAULT_KEYRING", "CROSSVAULT_DEMO", "CROSSVAULT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("CROSSVAULT_DATA_DIR", str(data_dir))
    return data_dir


def test_top_level_help_names_every_command_in_plain_words() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    commands = _every_command()
    assert {"db current", "db upgrade", "init", "reset", "audit prove"} <= set(commands)
    for name in commands:
        assert name in text, name
    assert "``" not in result.output and ":mod:" not in result.output
    assert not re.search(r"\b(sim|vault|api)/|\.py\b", result.output), result.output


def test_every_command_help_is_plain() -> None:
    for name in _every_command():
        result = runner.invoke(app, [*name.split(), "--help"], terminal_width=100)
        assert result.exit_code == 0, name
        assert "``" not in result.output and ":class:" not in result.output, name
        assert not re.search(r"\b(sim|vault|api)/\w", result.output), (name, result.output)


def test_bench_help_lists_its_suites_and_refuses_others() -> None:
    result = runner.invoke(app, ["bench", "--help"], terminal_width=120)
    assert all(suite in result.output for suite in SUITES)
    refused = runner.invoke(app, ["bench", "--only", "nosuch"], terminal_width=120)
    assert refused.exit_code == 2
    assert "no suite 'nosuch'" in refused.output and "radiology" in refused.output


def test_bench_runs_an_opt_in_suite_only_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import sim.benchmarks.report as report

    asked: list[list[str]] = []

    def run_all(scale: float, only: list[str]) -> int:
        asked.append(only)
        return 0

    monkeypatch.setattr(report, "run_all", run_all)
    assert "volume" in runner.invoke(app, ["bench", "--help"], terminal_width=120).output
    assert runner.invoke(app, ["bench", "--only", "volume"]).exit_code == 0
    assert asked == [["volume"]]


def test_init_migrates_and_creates_the_keyring_once(
    env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    keyring = env / KEYRING_FILENAME
    assert keyring.is_file() and keyring.stat().st_mode & 0o077 == 0
    assert current_state(database_url).status is SchemaStatus.CURRENT
    before = keyring.read_bytes()
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 2
    assert "a keyring already exists" in again.output
    assert keyring.read_bytes() == before


def test_init_refuses_when_the_environment_supplies_the_keyring(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSVAULT_KEYRING", '{"versions": []}')
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 2
    assert not env.exists()


def _provisioned(env: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert (env / "crossvault.db").is_file()


def test_reset_asks_first_and_keeps_everything_on_no(env: Path) -> None:
    _provisioned(env)
    result = runner.invoke(app, ["reset"], input="n\n")
    assert result.exit_code == 1
    assert "nothing deleted" in result.output
    assert (env / KEYRING_FILENAME).is_file()


def test_reset_deletes_the_data_dir_on_yes(env: Path) -> None:
    _provisioned(env)
    result = runner.invoke(app, ["reset"], input="y\n")
    assert result.exit_code == 0, result.output
    assert not env.exists()
    _provisioned(env)
    assert runner.invoke(app, ["reset", "--yes"]).exit_code == 0
    assert not env.exists()
    assert "nothing to clear" in runner.invoke(app, ["reset", "--yes"]).output


def test_reset_refuses_a_deployment_and_a_foreign_directory(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.mkdir()
    (env / "notes.txt").write_text("mine")
    foreign = runner.invoke(app, ["reset", "--yes"])
    assert foreign.exit_code == 2 and (env / "notes.txt").is_file()
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@localhost/x")
    deployment = runner.invoke(app, ["reset", "--yes"])
    assert deployment.exit_code == 2 and "DATABASE_URL" in deployment.output


def test_make_run_takes_host_and_port() -> None:
    dry = subprocess.run(
        ["make", "-n", "-s", "-o", ".venv/.installed-stamp", "run", "HOST=0.0.0.0", "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "crossvault serve --host 0.0.0.0 --port 8123" in dry.stdout
