"""Migration 0007 (the study index) on a populated database: it cannot seal, so it lists
the persons whose committed DICOM records predate the index in ``dicomindexbacklog``
(their index is built on first use: ``tests/api/test_radiology_qido.py``) — and nobody
else: not a person with only pending images or other records."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from sqlmodel import Session, select

from tests.vault.conftest import make_person
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.radiology_tables import DicomIndexBacklog
from vault.store.schema import alembic_config
from vault.store.tables import Record

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _record(person_id: str, record_id: str, category: str, state: str) -> Record:
    return Record(
        id=record_id,
        person_id=person_id,
        category=category,
        source="personal_folder",
        clinical_date=date(2026, 2, 27),
        content_type="application/dicom",
        size=1,
        digest="",
        title_sealed=b"-",
        blob_name=f"blob-{record_id}",
        state=state,
        created_at=NOW,
    )


def test_the_backlog_names_the_persons_with_committed_images(vault: Vault) -> None:
    with_images, pending_only, other = (make_person(vault) for _ in range(3))
    with transaction(vault.engine) as session:
        session.add(_record(with_images, "r1", "radiology_images", "committed"))
        session.add(_record(with_images, "r2", "radiology_images", "committed"))
        session.add(_record(pending_only, "r3", "radiology_images", "pending"))
        session.add(_record(other, "r4", "radiology_report", "committed"))
    with vault.engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0006")
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
    with Session(vault.engine) as session:
        backlog = session.exec(select(DicomIndexBacklog.person_id)).all()
    assert backlog == [with_images]
