"""Migrations build the schema the models describe, and start-up refuses, untouched, any
database whose schema is not the code's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from tests.vault.conftest import run_alembic
from vault.core.settings import Settings
from vault.keys.keyring import KEYRING_FILENAME, LocalKeyring
from vault.runtime.opening import Vault, provision
from vault.store.engine import make_engine
from vault.store.schema import (
    DatabaseUnreachable,
    SchemaError,
    alembic_config,
    check_schema,
    head_revision,
    model_metadata,
    upgrade,
)
from vault.store.tables import AuditChain


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _previous_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision())
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


def _snapshot(url: str) -> dict[str, Any]:
    """Every table's columns and rows, read through a plain engine (no pragmas)."""
    plain = create_engine(url)
    try:
        with plain.connect() as connection:
            inspector = inspect(connection)
            return {
                table: (
                    [column["name"] for column in inspector.get_columns(table)],
                    sorted(map(repr, connection.execute(text(f'SELECT * FROM "{table}"')))),
                )
                for table in sorted(inspector.get_table_names())
            }
    finally:
        plain.dispose()


def _one_line(error: pytest.ExceptionInfo[Exception]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_migrations_build_the_schema_from_an_empty_database(
    database_url: str, engine: Engine
) -> None:
    report = upgrade(database_url)
    assert (report.before, report.after) == (None, head_revision())
    check_schema(engine)
    tables = set(inspect(engine).get_table_names())
    assert tables == set(model_metadata().tables) | {"alembic_version"}
    with engine.connect() as connection:  # the chains start as they are appended to
        assert connection.execute(text("SELECT count(*) FROM auditchain")).scalar() == 0
    assert AuditChain.__tablename__ == "auditchain"


def test_the_migrated_schema_matches_the_models(database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, model_metadata())
    assert differences == [], (
        "the models changed without a migration: add a revision "
        "(vault/store/migrations/README.md) — differences: " + repr(differences)
    )


def test_upgrade_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    before = _snapshot(database_url)
    report = upgrade(database_url)
    assert report.before == report.after == head_revision()
    assert "already at revision" in report.describe()
    assert _snapshot(database_url) == before


def test_every_revision_downgrades_and_upgrades_again(database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    run_alembic(engine, "downgrade", "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    check_schema(engine)


def test_an_empty_database_is_refused(engine: Engine) -> None:
    with pytest.raises(SchemaError) as refused:
        check_schema(engine)
    assert _one_line(refused).endswith("has no crossvault schema: run `crossvault db upgrade`")


def test_an_older_schema_is_refused_with_both_revisions(database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    run_alembic(engine, "downgrade", "-1")
    with pytest.raises(SchemaError) as refused:
        check_schema(engine)
    assert _one_line(refused) == (
        f"schema at revision {_previous_revision()}, code expects {head_revision()}: "
        "run `crossvault db upgrade`"
    )
    upgrade(database_url)
    check_schema(engine)


def test_a_revision_the_code_does_not_know_is_refused_untouched(
    database_url: str, engine: Engine
) -> None:
    upgrade(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    before = _snapshot(database_url)
    with pytest.raises(SchemaError) as refused:
        check_schema(engine)
    assert "revision f00d, which this crossvault does not know" in _one_line(refused)
    with pytest.raises(SchemaError):
        upgrade(database_url)
    assert _snapshot(database_url) == before


def test_tables_without_a_revision_are_refused_untouched(database_url: str, engine: Engine) -> None:
    model_metadata().create_all(engine)
    before = _snapshot(database_url)
    with pytest.raises(SchemaError) as refused:
        check_schema(engine)
    assert "holds tables but no schema revision" in _one_line(refused)
    with pytest.raises(SchemaError):
        upgrade(database_url)
    assert _snapshot(database_url) == before


# -- Vault.open: a deployment checks, the embedded default migrates itself ---------------


def _supplied_keyring(tmp_path: Path) -> str:
    path = tmp_path / "supplied" / KEYRING_FILENAME
    LocalKeyring.create(path)
    return path.read_text()


def test_a_deployment_refuses_an_older_schema_before_writing_anything(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    upgrade(database_url)
    run_alembic(engine, "downgrade", "-1")
    before = _snapshot(database_url)
    data_dir = tmp_path / "data"
    settings = Settings(
        data_dir=data_dir, database_url=database_url, keyring=_supplied_keyring(tmp_path)
    )
    with pytest.raises(SchemaError, match="code expects"):
        Vault.open(settings)
    assert _snapshot(database_url) == before
    assert not data_dir.exists(), "the data dir (blobs, keyring) was created before refusing"


def test_a_deployment_refuses_an_empty_database(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, keyring=_supplied_keyring(tmp_path)
    )
    with pytest.raises(SchemaError, match="run `crossvault db upgrade`"):
        Vault.open(settings)
    assert not (tmp_path / "data").exists()


def test_a_deployment_opens_once_provisioned(tmp_path: Path, database_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    provision(settings)
    vault = Vault.open(settings)
    try:
        check_schema(vault.engine)
    finally:
        vault.close()


def test_the_embedded_default_migrates_itself(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    vault = Vault.open(settings)
    try:
        check_schema(vault.engine)
        run_alembic(vault.engine, "downgrade", "-1")
    finally:
        vault.close()
    reopened = Vault.open(settings)  # an older embedded database is brought up to date
    try:
        check_schema(reopened.engine)
    finally:
        reopened.close()


# -- unreachable -------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    port = _closed_port()
    engine = make_engine(f"postgresql+psycopg://crossvault:hunter2@127.0.0.1:{port}/vault")
    try:
        with pytest.raises(DatabaseUnreachable) as refused:
            check_schema(engine)
    finally:
        engine.dispose()
    message = _one_line(refused)
    assert message == f"cannot reach the database at 127.0.0.1:{port}/vault: connection refused"
    assert "hunter2" not in message
