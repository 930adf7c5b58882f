"""Crypto-shredding: erase a person by destroying their data key.

Every sealed field of the person (name, titles, bodies, metadata, blobs) was encrypted
under that key, so once the wrapped key is deleted nothing of theirs can be opened —
not from this database, nor from any backup of it. Their blobs and record rows are
deleted as well. Audit entries stay: they hold identities and decisions, no health data.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from vault.blobs import BlobStore
from vault.datakeys import DataKeys
from vault.errors import NotFound
from vault.models import Person, Record


def erase_person(
    session: Session, keys: DataKeys, blobs: BlobStore, person_id: str, *, now: datetime
) -> int:
    """Destroy the key, delete records and blobs; returns how many records went."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("person not found")
    keys.destroy(session, person_id)
    records = session.exec(select(Record).where(Record.person_id == person_id)).all()
    for record in records:
        session.delete(record)
    person.name_sealed = b""
    person.password_hash = "!erased"
    person.erased_at = now
    session.add(person)
    session.flush()
    blobs.delete_person(person_id)
    return len(records)
