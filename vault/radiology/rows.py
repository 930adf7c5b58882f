"""The rows of a deposit, as its use-cases read and change them: its files, its lock, its
pinned PatientID (sealed), the pending record of each stored file, and the visible DICOM
instances of a person (for WADO-RS)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from policies.model import Decision
from policies.vocabulary import Category, Source
from vault.crypto import aad
from vault.crypto.envelope import SealingKey
from vault.radiology.dicom import PatientMismatch
from vault.radiology.ingest import Ingested
from vault.radiology.refusals import refused
from vault.radiology.uploads import FileContext
from vault.records.listing import visible_filter
from vault.records.sealed import COMMITTED, PENDING, open_metadata
from vault.runtime.opening import Vault
from vault.store.radiology_tables import ABANDONED, RadiologyDeposit, RadiologyFile
from vault.store.tables import Record


def files_of(session: Session, deposit: RadiologyDeposit) -> list[RadiologyFile]:
    return list(
        session.exec(
            select(RadiologyFile)
            .where(
                RadiologyFile.person_id == deposit.person_id,
                RadiologyFile.deposit_id == deposit.id,
            )
            .order_by(col(RadiologyFile.created_at), col(RadiologyFile.name))
        )
    )


def file_named(session: Session, deposit: RadiologyDeposit, name: str) -> RadiologyFile | None:
    return session.exec(
        select(RadiologyFile).where(
            RadiologyFile.person_id == deposit.person_id,
            RadiologyFile.deposit_id == deposit.id,
            RadiologyFile.name == name,
        )
    ).first()


def abandon(session: Session, deposit: RadiologyDeposit) -> tuple[list[tuple[str, str]], list[str]]:
    """Mark ``deposit`` abandoned and delete its files and pending records; returns the
    blobs and resumable uploads to remove once that is committed."""
    blobs: list[tuple[str, str]] = []
    uploads: list[str] = []
    for f in files_of(session, deposit):
        record = session.get(Record, (deposit.person_id, f.record_id))
        if record is not None and record.state == PENDING:
            blobs.append((record.person_id, f.record_id))
            session.delete(record)
        uploads.append(f.id)
        session.delete(f)
    deposit.state = ABANDONED
    session.add(deposit)
    return blobs, uploads


def locked_deposit(session: Session, person_id: str, deposit_id: str) -> RadiologyDeposit:
    deposit = session.exec(
        select(RadiologyDeposit)
        .where(RadiologyDeposit.person_id == person_id, RadiologyDeposit.id == deposit_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return deposit


def flush_unique(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise refused("file_exists") from None


def _patient_aad(deposit: RadiologyDeposit) -> bytes:
    return aad.radiology_patient_id(deposit.person_id, deposit.id)


def pinned(key: SealingKey, deposit: RadiologyDeposit) -> str | None:
    """The PatientID the deposit's first DICOM file fixed, if one did."""
    if deposit.patient_id_sealed is None:
        return None
    return key.open(deposit.patient_id_sealed, aad=_patient_aad(deposit)).decode()


def pin(key: SealingKey, deposit: RadiologyDeposit, patient_id: str) -> None:
    """The first DICOM file fixes the deposit's PatientID; later ones must repeat it
    (checked again here, under the deposit's lock, for files that raced)."""
    already = pinned(key, deposit)
    if already is None:
        deposit.patient_id_sealed = key.seal(patient_id.encode(), aad=_patient_aad(deposit))
    elif already != patient_id:
        raise PatientMismatch("PatientID differs from the deposit's other files")


def pending_record(
    context: FileContext,
    ingested: Ingested,
    metadata: dict[str, str],
    clinical_date: date,
    now: datetime,
) -> Record:
    study_date = metadata.get("study_date", "")
    return Record(
        id=context.record_id,
        person_id=context.person_id,
        category=context.category,
        source=str(Source.PERSONAL_FOLDER),
        clinical_date=date.fromisoformat(study_date) if study_date else clinical_date,
        depositor_institution_id=context.institution_id,
        depositor_professional_id=context.professional_id,
        content_type=context.content_type,
        size=ingested.info.plaintext_size,
        digest=ingested.sealed_digest,
        title_sealed=b"",
        body_sealed=None,
        blob_name=context.blob_name,
        state=PENDING,
        created_at=now,
    )


def title_of(context: FileContext, metadata: dict[str, str]) -> str:
    if context.category == Category.RADIOLOGY_IMAGES:
        what = " ".join(
            p for p in (metadata.get("modality"), metadata.get("body_part_examined")) if p
        )
        return f"Radiology images{': ' + what if what else ''}"
    return f"Radiology report ({context.name})"


def matching(
    session: Session,
    vault: Vault,
    person_id: str,
    decision: Decision,
    wanted: dict[str, str | None],
) -> list[tuple[Record, dict[str, str]]]:
    visible = visible_filter(decision.obligations).narrow(
        category=Category.RADIOLOGY_IMAGES, source=Source.PERSONAL_FOLDER
    )
    rows = session.exec(
        select(Record)
        .where(
            Record.person_id == person_id,
            Record.state == COMMITTED,
            col(Record.blob_name).is_not(None),
            *visible.predicates(),
        )
        .order_by(col(Record.created_at), col(Record.id))
    ).all()
    if not rows:
        return []
    key = vault.keys.get(session, person_id)
    found = []
    for record in rows:
        metadata = {k: str(v) for k, v in open_metadata(key, record).items()}
        if all(value is None or metadata.get(k) == value for k, value in wanted.items()):
            found.append((record, metadata))
    return found
