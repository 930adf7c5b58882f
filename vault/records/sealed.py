"""Records at rest: sealed with the person's data key on the way in, opened on the way
out. The AAD of every field binds it to its person, record id, category and clinical date
(:func:`vault.crypto.aad.record_field`), so a field moved to another row fails to open.

These functions do not decide who may do what: the use-cases ask :mod:`policies` first
(:mod:`vault.records.reading`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlmodel import Session

from vault.core.errors import DecryptionFailed
from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.aad import RecordField
from vault.crypto.envelope import SealingKey
from vault.keys.datakeys import DataKeys
from vault.store.statements import Prepared
from vault.store.tables import Record

COMMITTED = "committed"
PENDING = "pending"


class RecordSummary(NamedTuple):
    """What a record list shows (and needs to open the title): a plain row, not an ORM
    object, so that listing a page costs one query and no identity-map bookkeeping. A
    named tuple: made from its row at a sixth of a frozen dataclass's cost (0.25 against
    1.5 µs; a page makes fifty)."""

    id: str
    person_id: str
    category: str
    source: str
    clinical_date: date
    depositor_institution_id: str | None
    content_type: str
    size: int
    title_sealed: bytes
    depositor_professional_id: str | None  # with created_at: a deposit's provenance
    created_at: datetime


SUMMARY_COLUMNS = tuple(getattr(Record, name) for name in RecordSummary._fields)
AnyRecord = Record | RecordSummary


def field_aad(record: AnyRecord, field: RecordField) -> bytes:
    """The AAD of one sealed field of ``record``."""
    return aad.record_field(
        record.person_id, record.id, record.category, record.clinical_date, field
    )


@dataclass(frozen=True)
class NewRecord:
    category: str
    source: str
    clinical_date: date
    title: str
    content: bytes
    content_type: str
    depositor_institution_id: str | None = None
    depositor_professional_id: str | None = None


@dataclass(frozen=True)
class OpenedRecord:
    record: Record
    title: str
    content: bytes


def add_record(
    session: Session,
    keys: DataKeys,
    person_id: str,
    new: NewRecord,
    *,
    now: datetime,
) -> Record:
    """Seal ``new`` with the person's data key and store it (in the caller's transaction).
    The record returned is not in the session: a change to it is not written."""
    key = keys.get(session, person_id)
    record = Record(
        id=new_id(),
        person_id=person_id,
        category=new.category,
        source=new.source,
        clinical_date=new.clinical_date,
        depositor_institution_id=new.depositor_institution_id,
        depositor_professional_id=new.depositor_professional_id,
        content_type=new.content_type,
        size=len(new.content),
        digest="",
        title_sealed=b"",
        state=COMMITTED,
        created_at=now,
    )
    record.title_sealed = seal_title(key, record, new.title)
    record.body_sealed = key.seal(new.content, aad=field_aad(record, RecordField.BODY))
    record.digest = hashlib.sha256(record.body_sealed).hexdigest()
    _INSERT_RECORD.run(session, record.model_dump())
    return record


# Every deposit's one write besides its audit entry (prepared: see vault.store.statements).
_INSERT_RECORD = Prepared(insert(Record))


def seal_title(key: SealingKey, record: Record, title: str) -> bytes:
    return key.seal(title.encode(), aad=field_aad(record, RecordField.TITLE))


def record_title(key: SealingKey, record: AnyRecord) -> str:
    return _opened_title(key.open(record.title_sealed, aad=field_aad(record, RecordField.TITLE)))


TitleOpener = Callable[[AnyRecord], str]


def title_opener(key: SealingKey, person_id: str) -> TitleOpener:
    """:func:`record_title` for many records of one person (a page): the AAD's person
    part is encoded once (:func:`vault.crypto.aad.record_fields_of`)."""
    aad_of = aad.record_fields_of(person_id, RecordField.TITLE)

    def title(record: AnyRecord) -> str:  # another person's record fails to open here
        sealed_aad = aad_of(record.id, record.category, record.clinical_date)
        return _opened_title(key.open(record.title_sealed, aad=sealed_aad))

    return title


def _opened_title(plain: bytes) -> str:
    try:
        return plain.decode()
    except UnicodeDecodeError:  # pragma: no cover - sealed titles are always UTF-8
        raise DecryptionFailed() from None


def open_record(session: Session, keys: DataKeys, record: Record) -> OpenedRecord:
    """Decrypt title and inline body. Callers must have asked the policy first."""
    key = keys.get(session, record.person_id)
    body = b""
    if record.body_sealed is not None:
        body = key.open(record.body_sealed, aad=field_aad(record, RecordField.BODY))
    return OpenedRecord(record, record_title(key, record), body)


def seal_metadata(key: SealingKey, record: Record, metadata: dict[str, Any]) -> bytes:
    plain = json.dumps(metadata, sort_keys=True).encode()
    return key.seal(plain, aad=field_aad(record, RecordField.METADATA))


def open_metadata(key: SealingKey, record: Record) -> dict[str, Any]:
    if record.metadata_sealed is None:
        return {}
    plain = key.open(record.metadata_sealed, aad=field_aad(record, RecordField.METADATA))
    loaded: dict[str, Any] = json.loads(plain)
    return loaded
