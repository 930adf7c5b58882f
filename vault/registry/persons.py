"""Persons: registered with a fresh data key and their name sealed under it, and
authenticated by password (argon2id, the same work whether or not the person exists)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.passwords import hash_password, verify_password
from vault.keys.datakeys import DataKeys
from vault.store.tables import Person


@dataclass(frozen=True)
class NewPerson:
    """Who is registered: the name (sealed), the date of birth (in clear: cross-border
    eligibility depends on age), whether they join eHealth now, and an id if one is given."""

    name: str
    date_of_birth: date
    joined: bool = True
    person_id: str | None = None


def create_person(
    session: Session, keys: DataKeys, new: NewPerson, *, password_hash: str, now: datetime
) -> Person:
    """A new person with a fresh data key; the name is sealed with that key."""
    pid = new.person_id or new_id()
    person = Person(
        id=pid,
        name_sealed=b"",
        date_of_birth=new.date_of_birth,
        password_hash=password_hash,
        joined_at=now if new.joined else None,
        created_at=now,
    )
    session.add(person)
    session.flush()
    key = keys.create(session, pid, now=now)
    person.name_sealed = key.seal(new.name.encode(), aad=aad.person_name(pid))
    session.add(person)
    session.flush()
    return person


def person_name(session: Session, keys: DataKeys, person: Person) -> str:
    key = keys.get(session, person.id)
    return key.open(person.name_sealed, aad=aad.person_name(person.id)).decode()


def register_person(
    session: Session, keys: DataKeys, new: NewPerson, password: str, *, now: datetime
) -> Person:
    """:func:`create_person` with the password hashed (argon2id)."""
    return create_person(session, keys, new, password_hash=hash_password(password), now=now)


def authenticate_person(session: Session, person_id: str, password: str) -> Person | None:
    person = session.get(Person, person_id)
    valid = verify_password(person.password_hash if person else None, password)
    if not valid or person is None or person.erased_at is not None:
        return None
    return person
