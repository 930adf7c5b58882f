"""A person's study index: what QIDO-RS searches and WADO-RS metadata are answered from,
so that neither decrypts the person's image records one by one.

Each :class:`~vault.store.radiology_tables.DicomStudyPart` holds, sealed with the person's
data key, the viewer attributes (:mod:`vault.radiology.dicom_json`) of the instances one
deposit added to one study, and the patient's identity as the vault knows it (the
deposit's pinned PatientID; the person's registered name, which every file's PatientName
was checked to name). The study's UID is found by its blind index
(:func:`vault.crypto.blind.blind_index`), never stored in clear.

* **Written at deposit time**: :func:`index_deposit`, in the transaction that completes
  the deposit (so a study is in the index exactly when its records are visible).
* **Backfilled lazily** for records that predate the index: migration 0006 lists their
  persons in ``dicomindexbacklog``; :func:`backfill` builds such a person's parts from the
  records' sealed metadata and, where it lacks the viewer attributes, the head of each
  sealed file — once, in the first search or metadata request about them that the policy
  allows (under the person's chain lock, so two requests never build it twice).
* **Read** under the caller's visible set as SQL predicates (:func:`visible_parts`): a
  part outside it is neither opened nor counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, false
from sqlmodel import Session, col, select

from policies.vocabulary import Category, Source
from vault.crypto import aad
from vault.crypto.blind import blind_index
from vault.crypto.envelope import SealingKey
from vault.radiology.dicom import parse_head
from vault.radiology.dicom_json import attributes_of
from vault.radiology.rows import files_of, pinned
from vault.records.blob_content import open_blob_record
from vault.records.listing import RecordFilter
from vault.records.sealed import COMMITTED, open_metadata
from vault.registry.persons import person_name
from vault.runtime.opening import Vault
from vault.store.radiology_tables import DicomIndexBacklog, DicomStudyPart, RadiologyDeposit
from vault.store.tables import Person, Record

Instance = dict[str, Any]
IMAGES = str(Category.RADIOLOGY_IMAGES)
_FLAT = {  # the record metadata's own fields, as DICOM keywords
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID",
    "sop_class_uid": "SOPClassUID",
    "modality": "Modality",
}


def study_key(key: SealingKey, person_id: str, study_uid: str) -> str:
    return blind_index(key.raw(), person_id, study_uid)


def index_deposit(session: Session, vault: Vault, deposit: RadiologyDeposit, now: datetime) -> None:
    """Index the DICOM instances of a deposit that is completing (same transaction)."""
    ids = [f.record_id for f in files_of(session, deposit) if f.category == IMAGES]
    if not ids:
        return
    records = session.exec(
        select(Record).where(Record.person_id == deposit.person_id, col(Record.id).in_(ids))
    ).all()
    key = vault.keys.get(session, deposit.person_id)
    entries = [(r, _entry(open_metadata(key, r), None)) for r in records]
    identity = _identity(session, vault, key, deposit.person_id, deposit)
    _write(session, key, identity, entries, (deposit.id, deposit.institution_id, now))


def _entry(metadata: dict[str, Any], head_attributes: dict[str, Any] | None) -> Instance:
    attributes: Instance = dict(head_attributes or json.loads(metadata.get("dicom") or "{}"))
    for flat, keyword in _FLAT.items():
        if metadata.get(flat):
            attributes.setdefault(keyword, [str(metadata[flat])])
    if metadata.get("transfer_syntax_uid"):
        attributes["AvailableTransferSyntaxUID"] = [str(metadata["transfer_syntax_uid"])]
    return attributes


def _identity(
    session: Session,
    vault: Vault,
    key: SealingKey,
    person_id: str,
    deposit: RadiologyDeposit | None,
) -> Instance:
    person = session.get(Person, person_id)
    identity: Instance = {}
    if person is not None:
        identity["PatientName"] = [person_name(session, vault.keys, person)]
    patient_id = pinned(key, deposit) if deposit is not None else None
    if patient_id:
        identity["PatientID"] = [patient_id]
    return identity


def _write(
    session: Session,
    key: SealingKey,
    identity: Instance,
    entries: Sequence[tuple[Record, Instance]],
    origin: tuple[str, str, datetime],
) -> None:
    """One part per (study, clinical date) of ``entries``; ``origin``: the deposit's id,
    its institution and the instant."""
    deposit_id, institution_id, now = origin
    groups: dict[tuple[str, date], list[Instance]] = {}
    for record, entry in entries:
        study = entry.get("StudyInstanceUID", [""])[0]
        groups.setdefault((study, record.clinical_date), []).append(entry)
    for (study, clinical_date), instances in groups.items():
        person_id = entries[0][0].person_id
        part = DicomStudyPart(
            person_id=person_id,
            study_key=study_key(key, person_id, study),
            deposit_id=deposit_id,
            clinical_date=clinical_date,
            depositor_institution_id=institution_id,
            document_sealed=b"",
            created_at=now,
        )
        document = {"identity": identity, "instances": instances}
        plain = json.dumps(document, sort_keys=True).encode()
        part.document_sealed = key.seal(plain, aad=_part_aad(part))
        session.add(part)
    session.flush()


def _part_aad(part: DicomStudyPart) -> bytes:
    return aad.dicom_index(part.person_id, part.study_key, part.deposit_id, part.clinical_date)


def open_part(key: SealingKey, part: DicomStudyPart) -> list[Instance]:
    """The part's instances, each with the patient's identity."""
    document = json.loads(key.open(part.document_sealed, aad=_part_aad(part)))
    identity: Instance = document["identity"]
    return [{**instance, **identity} for instance in document["instances"]]


def visible_parts(
    session: Session, person_id: str, visible: RecordFilter, study: str | None = None
) -> list[DicomStudyPart]:
    """The person's parts inside ``visible`` (of the study with blind index ``study``)."""
    where = [col(DicomStudyPart.person_id) == person_id, *_predicates(visible)]
    if study is not None:
        where.append(col(DicomStudyPart.study_key) == study)
    return list(
        session.exec(
            select(DicomStudyPart)
            .where(*where)
            .order_by(col(DicomStudyPart.created_at), col(DicomStudyPart.deposit_id))
        )
    )


def _predicates(visible: RecordFilter) -> list[ColumnElement[bool]]:
    """A records' visible set, on the parts (which are images from the Personal Folder)."""
    where: list[ColumnElement[bool]] = []
    if visible.categories is not None and IMAGES not in visible.categories:
        where.append(false())
    if visible.sources is not None and str(Source.PERSONAL_FOLDER) not in visible.sources:
        where.append(false())
    if visible.since is not None:
        where.append(col(DicomStudyPart.clinical_date) >= visible.since)
    if visible.until is not None:
        where.append(col(DicomStudyPart.clinical_date) <= visible.until)
    if visible.depositor_institution_id is not None:
        depositor = col(DicomStudyPart.depositor_institution_id)
        where.append(depositor == visible.depositor_institution_id)
    return where


# -- the backfill of records that predate the index -----------------------------------------


def backfill(session: Session, vault: Vault, person_id: str, now: datetime) -> None:
    """Build the person's parts for records deposited before the index existed (once)."""
    pending = session.get(DicomIndexBacklog, person_id)
    if pending is None:
        return
    records = session.exec(
        select(Record).where(
            Record.person_id == person_id,
            Record.category == IMAGES,
            Record.state == COMMITTED,
            col(Record.blob_name).is_not(None),
        )
    ).all()
    key = vault.keys.get(session, person_id)
    indexed = set(
        session.exec(select(DicomStudyPart.deposit_id).where(DicomStudyPart.person_id == person_id))
    )
    by_deposit: dict[str, list[tuple[Record, dict[str, Any]]]] = {}
    for record in records:
        metadata = open_metadata(key, record)
        deposit_id = str(metadata.get("deposit_id") or record.id)
        if deposit_id not in indexed:
            by_deposit.setdefault(deposit_id, []).append((record, metadata))
    for deposit_id, found in by_deposit.items():
        _backfill_deposit(session, vault, deposit_id, found, now)
    session.delete(pending)
    session.flush()


def _backfill_deposit(
    session: Session,
    vault: Vault,
    deposit_id: str,
    found: Iterable[tuple[Record, dict[str, Any]]],
    now: datetime,
) -> None:
    found = list(found)
    person_id = found[0][0].person_id
    deposit = session.get(RadiologyDeposit, (person_id, deposit_id))
    key = vault.keys.get(session, person_id)
    identity = _identity(session, vault, key, person_id, deposit)
    entries = [
        (r, _entry(m, None if m.get("dicom") else _head_attributes(vault, key, r)))
        for r, m in found
    ]
    institution = deposit.institution_id if deposit else found[0][0].depositor_institution_id
    _write(session, key, identity, entries, (deposit_id, institution or "", now))


def _head_attributes(vault: Vault, key: SealingKey, record: Record) -> dict[str, Any]:
    """The viewer attributes read from the head of a record's sealed file."""
    chunks = open_blob_record(vault, record, data_key=key.raw()).chunks()
    try:
        head = next(iter(chunks), b"")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    try:
        return attributes_of(parse_head(head))
    except Exception:  # a head that no longer parses: the flat metadata still indexes it
        return {}
