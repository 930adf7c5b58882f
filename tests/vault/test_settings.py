"""Settings fail closed: a bad or unsafe value is one line naming the variable, never
its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.core.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    ConfigurationError,
    Settings,
    is_placeholder_secret,
)

STRONG = "uV8q3ZmT1xw6Lr0pKc4sYb9NfEa2HdJg"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "CROSSVAULT_OPERATOR_SECRET", "CROSSVAULT_DEMO"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "secret",
    [
        "changeme",
        "operator",
        "Password",
        "short-but-random-Zx81",
        "changemechangemechangeme",
        "change-me-change-me-change-me",
        "secret_password_operator_admin",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abababababababababababababababab",
    ],
)
def test_placeholder_secrets_are_refused_outside_demo_mode(secret: str) -> None:
    assert is_placeholder_secret(secret)
    with pytest.raises(ConfigurationError) as refused:
        Settings(operator_secret=secret)
    message = str(refused.value)
    assert message.startswith("CROSSVAULT_OPERATOR_SECRET looks like a placeholder")
    assert secret not in message and "\n" not in message


def test_a_random_secret_is_accepted_and_demo_mode_accepts_any() -> None:
    assert not is_placeholder_secret(STRONG)
    assert Settings(operator_secret=STRONG).operator_secret == STRONG
    assert Settings(operator_secret="changeme", demo=True).operator_secret == "changeme"


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CROSSVAULT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://cv:pw@db:5432/cv")
    monkeypatch.setenv("CROSSVAULT_OPERATOR_SECRET", "changeme")
    monkeypatch.setenv("CROSSVAULT_DEMO", "1")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.demo and not settings.embedded
    assert settings.may_generate_keyring


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://cv:pw@db/cv", "postgresql+psycopg://cv:pw@db/cv"),
        ("postgresql://cv:pw@db:6432/cv", "postgresql+psycopg://cv:pw@db:6432/cv"),
        ("postgresql+psycopg://cv@db/cv", "postgresql+psycopg://cv@db/cv"),
    ],
)
def test_postgresql_urls_use_psycopg_and_a_connect_timeout(given: str, expected: str) -> None:
    resolved = Settings(database_url=given).resolved_database_url()
    assert resolved == f"{expected}?connect_timeout={DEFAULT_CONNECT_TIMEOUT}"
    kept = Settings(database_url=f"{given}?connect_timeout=3").resolved_database_url()
    assert kept == f"{expected}?connect_timeout=3"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://cv:hunter2@db/cv", "DATABASE_URL scheme 'mysql' is not supported"),
        ("postgresql+psycopg2://cv:hunter2@db/cv", "scheme 'postgresql+psycopg2'"),
        ("not a url :hunter2", "DATABASE_URL is not a database URL"),
        ("postgresql://cv:hunter2@db:port/cv", "DATABASE_URL is not a database URL"),
        ("postgresql://cv:hunter2@db", "names no PostgreSQL database"),
        ("sqlite://", "in-memory SQLite"),
        ("  ", "DATABASE_URL is set but empty"),
    ],
)
def test_bad_database_urls_are_refused_without_echoing_them(url: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings(database_url=url)
    assert complaint in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_malformed_values_name_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CROSSVAULT_CLOCK", "sundial-hunter2")
    monkeypatch.setenv("CROSSVAULT_DEMO", "perhaps")
    with pytest.raises(ConfigurationError) as refused:
        Settings()
    message = str(refused.value)
    assert message.startswith("invalid configuration: ")
    assert "CROSSVAULT_CLOCK" in message and "CROSSVAULT_DEMO" in message
    assert "hunter2" not in message and "perhaps" not in message and "\n" not in message


def test_the_embedded_default_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.embedded and settings.may_generate_keyring
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path.resolve()}/crossvault.db"
    deployment = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db")
    assert not deployment.embedded and not deployment.may_generate_keyring


def test_the_radiology_file_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSVAULT_RADIOLOGY_MAX_FILE_BYTES", "1048576")
    assert Settings().radiology_max_file_bytes == 1 << 20
    monkeypatch.setenv("CROSSVAULT_RADIOLOGY_MAX_FILE_BYTES", "0")
    with pytest.raises(ConfigurationError, match="CROSSVAULT_RADIOLOGY_MAX_FILE_BYTES"):
        Settings()
