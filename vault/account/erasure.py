"""Crypto-shredding: erase a person by destroying their data key.

Every sealed field of the person (name, titles, bodies, metadata, blobs) was encrypted
under that key, so once the wrapped key is deleted nothing of theirs can be opened —
not from this database, nor from any backup of it. Their blobs and record rows are
deleted as well. Audit entries stay: they hold identities and decisions, no health data.

The blobs go only once the caller's transaction has committed: deleted before, a crash
(or a failed commit) would leave the person's records and key in place with their
images gone — records listed that no longer open. Deleted after, a crash at worst leaves
sealed objects under a destroyed key, which
:meth:`vault.runtime.opening.Vault.collect_orphaned_blobs` removes.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, delete, select

from vault.core.errors import NotFound
from vault.keys.datakeys import DataKeys
from vault.store.blobs import BlobStore
from vault.store.engine import after_commit
from vault.store.radiology_tables import DicomIndexBacklog, DicomStudyPart
from vault.store.tables import Person, Record


def erase_person(
    session: Session, keys: DataKeys, blobs: BlobStore, person_id: str, *, now: datetime
) -> int:
    """Destroy the key and delete the records (in ``session``'s transaction), and the
    blobs once it commits; returns how many records went."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("person not found")
    keys.destroy(session, person_id)
    records = session.exec(select(Record).where(Record.person_id == person_id)).all()
    for record in records:
        session.delete(record)
    for index in (DicomStudyPart, DicomIndexBacklog):  # the study index (QIDO-RS)
        session.exec(delete(index).where(col(index.person_id) == person_id))
    person.name_sealed = b""
    person.password_hash = "!erased"
    person.erased_at = now
    session.add(person)
    session.flush()
    after_commit(session, lambda: blobs.delete_person(person_id))
    return len(records)
