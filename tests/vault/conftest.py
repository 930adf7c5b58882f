from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine

from vault.core.settings import Settings
from vault.records.sealed import NewRecord
from vault.registry.persons import NewPerson, create_person
from vault.runtime.opening import Vault, provision
from vault.store.engine import transaction
from vault.store.schema import alembic_config

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, migrated_database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=migrated_database_url)


@pytest.fixture
def vault(settings: Settings) -> Iterator[Vault]:
    provision(settings)  # an explicit DATABASE_URL is a deployment: migrate + keyring first
    opened = Vault.open(settings)
    yield opened
    opened.close()


def make_person(vault: Vault, name: str = "Chan Tai Man") -> str:
    with transaction(vault.engine) as session:
        new = NewPerson(name, date(1950, 5, 17))
        person = create_person(
            session, vault.keys, new, password_hash="$argon2id$placeholder", now=NOW
        )
        return person.id


def lab_report(content: bytes = b"HbA1c 6.1%", clinical: date = date(2025, 6, 1)) -> NewRecord:
    return NewRecord(
        category="lab_report",
        source="ehr",
        clinical_date=clinical,
        title="Glycated haemoglobin",
        content=content,
        content_type="text/plain",
        depositor_institution_id="ha",
    )


def run_alembic(engine: Engine, action: str, revision: str) -> None:
    """Alembic's ``upgrade``/``downgrade`` (``action``) to ``revision`` on ``engine``."""
    with engine.connect() as connection:
        getattr(command, action)(alembic_config(connection), revision)
