"""A misconfigured start-up is one line on stderr, exit code 2, no traceback, no writes.

Each case runs the real command in a subprocess, as an operator would: ``serve`` (which
must refuse before uvicorn binds) and ``audit verify``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from sim.server import free_port
from vault.keys.keyring import KEYRING_FILENAME, LocalKeyring
from vault.store.engine import make_engine
from vault.store.schema import alembic_config, head_revision

GOOD_SECRET = "uV8q3ZmT1xw6Lr0pKc4sYb9NfEa2HdJg"
COMMANDS = {"serve": ["serve", "--port", "{port}"], "audit-verify": ["audit", "verify"]}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CROSSVAULT_", "PROMETHEUS_")) and k != "DATABASE_URL"
    }
    port = str(free_port())
    return subprocess.run(
        [sys.executable, "-m", "crossvault", *(arg.format(port=port) for arg in args)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refusal (asserting exit 2 and no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("crossvault: "), result.stderr
    return lines[0]


def _snapshot(url: str) -> dict[str, list[str]]:
    plain = create_engine(url)
    try:
        with plain.connect() as connection:
            return {
                table: sorted(map(repr, connection.execute(text(f'SELECT * FROM "{table}"'))))
                for table in inspect(connection).get_table_names()
            }
    finally:
        plain.dispose()


@pytest.fixture
def keyring(tmp_path: Path) -> str:
    """A keyring as a deployment supplies it (``CROSSVAULT_KEYRING``)."""
    path = tmp_path / "secrets" / KEYRING_FILENAME
    LocalKeyring.create(path)
    return path.read_text()


@pytest.fixture(params=list(COMMANDS))
def args(request: pytest.FixtureRequest) -> list[str]:
    return COMMANDS[request.param]


def test_a_wrong_database_url_scheme(tmp_path: Path, args: list[str], keyring: str) -> None:
    data_dir = tmp_path / "data"
    env = {
        "CROSSVAULT_DATA_DIR": str(data_dir),
        "DATABASE_URL": "mysql://crossvault:hunter2@127.0.0.1/vault",
        "CROSSVAULT_KEYRING": keyring,
    }
    line = _refused(_run(args, env))
    assert line.startswith("crossvault: DATABASE_URL scheme 'mysql' is not supported")
    assert "hunter2" not in line
    assert not data_dir.exists()


def test_an_unreachable_database(tmp_path: Path, args: list[str], keyring: str) -> None:
    data_dir, port = tmp_path / "data", free_port()  # nothing listens on it
    env = {
        "CROSSVAULT_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"postgresql://crossvault:hunter2@127.0.0.1:{port}/vault",
        "CROSSVAULT_KEYRING": keyring,
    }
    line = _refused(_run(args, env))
    assert (
        line
        == f"crossvault: cannot reach the database at 127.0.0.1:{port}/vault: connection refused"
    )
    assert not data_dir.exists()


def test_a_schema_older_than_the_code(
    tmp_path: Path, database_url: str, args: list[str], keyring: str
) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            command.upgrade(alembic_config(connection), "head")
        with engine.connect() as connection:
            command.downgrade(alembic_config(connection), "-1")
    finally:
        engine.dispose()
    before = _snapshot(database_url)
    data_dir = tmp_path / "data"
    env = {
        "CROSSVAULT_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "CROSSVAULT_KEYRING": keyring,
    }
    line = _refused(_run(args, env))
    assert line.endswith(f"code expects {head_revision()}: run `crossvault db upgrade`"), line
    assert line.startswith("crossvault: schema at revision ")
    assert _snapshot(database_url) == before
    assert not data_dir.exists()


def test_an_empty_database(
    tmp_path: Path, database_url: str, args: list[str], keyring: str
) -> None:
    env = {
        "CROSSVAULT_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "CROSSVAULT_KEYRING": keyring,
    }
    line = _refused(_run(args, env))
    assert line.endswith("run `crossvault db upgrade`"), line
    assert "no crossvault schema" in line or "no database file" in line, line
    assert not (tmp_path / "data").exists()


def test_a_placeholder_operator_secret_outside_demo_mode(tmp_path: Path, args: list[str]) -> None:
    data_dir, secret = tmp_path / "data", "changeme"  # more placeholders: test_settings.py
    env = {"CROSSVAULT_DATA_DIR": str(data_dir), "CROSSVAULT_OPERATOR_SECRET": secret}
    line = _refused(_run(args, env))
    assert line.startswith("crossvault: CROSSVAULT_OPERATOR_SECRET looks like a placeholder")
    assert secret not in line
    assert not data_dir.exists()


def test_a_deployment_without_a_keyring(tmp_path: Path, database_url: str, args: list[str]) -> None:
    data_dir = tmp_path / "data"
    env = {"CROSSVAULT_DATA_DIR": str(data_dir), "DATABASE_URL": database_url}
    line = _refused(_run(args, env))
    assert line.startswith("crossvault: no keyring: with DATABASE_URL set, supply it")
    assert not data_dir.exists()
    assert _snapshot(database_url) == {}


def test_a_deployment_starts_after_db_upgrade(
    tmp_path: Path, database_url: str, keyring: str
) -> None:
    env = {
        "CROSSVAULT_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "CROSSVAULT_KEYRING": keyring,
        "CROSSVAULT_OPERATOR_SECRET": GOOD_SECRET,
    }
    assert _run(["db", "current"], env).returncode == 1
    upgraded = _run(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from empty to {head_revision()}" in upgraded.stdout
    again = _run(["db", "upgrade"], env)
    assert f"already at revision {head_revision()}" in again.stdout
    current = _run(["db", "current"], env)
    assert current.returncode == 0 and "schema: current" in current.stdout, current.stdout
    verified = _run(["audit", "verify"], env)
    assert verified.returncode == 0, verified.stderr
    assert "audit chains valid: 0 entries" in verified.stdout


def test_demo_mode_accepts_a_short_secret_and_generates_what_it_needs(tmp_path: Path) -> None:
    env = {
        "CROSSVAULT_DATA_DIR": str(tmp_path / "data"),
        "CROSSVAULT_DEMO": "1",
        "CROSSVAULT_OPERATOR_SECRET": "demo",
    }
    result = _run(["audit", "verify"], env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / KEYRING_FILENAME).exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such policy file"),
        ("[[institutions]\nid = 1\n", "line 1"),
        ('extends = "nowhere.toml"\n', "nowhere.toml"),
    ],
    ids=["missing", "not-toml", "bad-extends"],
)
def test_serve_refuses_a_bad_policy_file_in_one_line(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    policy = tmp_path / "policy.toml"
    if content is not None:
        policy.write_text(content)
    env = {"CROSSVAULT_DATA_DIR": str(tmp_path / "data"), "CROSSVAULT_POLICY": str(policy)}
    line = _refused(_run(COMMANDS["serve"], env))
    assert expected in line
    assert not (tmp_path / "data").exists(), "nothing is created before the policy is read"
