"""The server and CLI refuse to start on a bad keyring, with one line, and never
generate a fresh key over existing data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.vault.conftest import make_person
from vault.core.settings import Settings
from vault.runtime.opening import Vault, provision


def _cli(data_dir: Path, database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CROSSVAULT_DATA_DIR": str(data_dir)}
    env.pop("CROSSVAULT_KEYRING", None)
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "crossvault", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def populated(tmp_path: Path, database_url: str) -> tuple[Path, str]:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=database_url)
    provision(settings)
    vault = Vault.open(settings)
    make_person(vault)
    vault.close()
    return data_dir, database_url


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def _corrupt(path: Path) -> None:
    path.write_text("{not json")


def _world_readable(path: Path) -> None:
    os.chmod(path, 0o644)


def _wrong_key_length(path: Path) -> None:
    doc = json.loads(path.read_text())
    doc["keys"][0]["key"] = "AAAA"
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "damage",
    [Path.unlink, _truncate, _corrupt, _world_readable, _wrong_key_length],
    ids=["missing", "truncated", "corrupt", "world-readable", "short-key"],
)
@pytest.mark.parametrize("command", [["audit", "verify"], ["serve", "--port", "1"]])
def test_bad_keyring_refuses_with_one_line(
    populated: tuple[Path, str], damage: Callable[[Path], None], command: list[str]
) -> None:
    data_dir, url = populated
    keyring = data_dir / "keyring.json"
    before = keyring.read_bytes()
    damage(keyring)
    result = _cli(data_dir, url, *command)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("crossvault: "), result.stderr
    assert "Traceback" not in result.stderr
    if damage is Path.unlink:
        assert not keyring.exists(), "a fresh keyring was generated over existing data"
    elif damage is _world_readable:
        assert keyring.stat().st_mode & 0o077 != 0  # the refusal did not "fix" it silently
    else:
        assert keyring.read_bytes() != before  # not replaced by a fresh keyring


def test_first_run_creates_a_private_keyring(tmp_path: Path) -> None:
    """The embedded default (DATABASE_URL unset) generates its keyring on first run."""
    data_dir = tmp_path / "fresh"
    result = _cli(data_dir, None, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "audit chains valid: 0 entries" in result.stdout
    assert os.stat(data_dir / "keyring.json").st_mode & 0o777 == 0o600
