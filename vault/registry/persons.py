"""Persons: registered with a fresh data key and their name sealed under it, and
authenticated by password (argon2id, the same work whether or not the person exists)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.passwords import hash_password, verify_password
from vault.keys.datakeys import DataKeys
from vault.store.tables import Person


def create_person(
    session: Session,
    keys: DataKeys,
    *,
    name: str,
    date_of_birth: date,
    password_hash: str,
    joined_at: datetime | None,
    now: datetime,
    person_id: str | None = None,
) -> Person:
    """A new person with a fresh data key; the name is sealed with that key."""
    pid = person_id or new_id()
    person = Person(
        id=pid,
        name_sealed=b"",
        date_of_birth=date_of_birth,
        password_hash=password_hash,
        joined_at=joined_at,
        created_at=now,
    )
    session.add(person)
    session.flush()
    key = keys.create(session, pid, now=now)
    person.name_sealed = key.seal(name.encode(), aad=aad.person_name(pid))
    session.add(person)
    session.flush()
    return person


def person_name(session: Session, keys: DataKeys, person: Person) -> str:
    key = keys.get(session, person.id)
    return key.open(person.name_sealed, aad=aad.person_name(person.id)).decode()


def register_person(
    session: Session,
    keys: DataKeys,
    *,
    name: str,
    date_of_birth: date,
    password: str,
    joined: bool,
    now: datetime,
    person_id: str | None = None,
) -> Person:
    return create_person(
        session,
        keys,
        name=name,
        date_of_birth=date_of_birth,
        password_hash=hash_password(password),
        joined_at=now if joined else None,
        now=now,
        person_id=person_id,
    )


def authenticate_person(session: Session, person_id: str, password: str) -> Person | None:
    person = session.get(Person, person_id)
    valid = verify_password(person.password_hash if person else None, password)
    if not valid or person is None or person.erased_at is not None:
        return None
    return person
