"""Persons: registered with a fresh data key and their name sealed under it, and
authenticated by password (argon2id, the same work whether or not the person exists)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import Engine, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from policies.dates import hk_date
from policies.model import Actor
from policies.vocabulary import Action
from vault.access.judge import Ask, Caller, Occasion
from vault.access.usecase import Unusable, UseCase
from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.passwords import hash_password, verify_password
from vault.crypto.secrets import Secret
from vault.keys.datakeys import DataKeys
from vault.store.engine import reading
from vault.store.statements import Prepared
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


def registered_person(engine: Engine, person_id: str) -> str | None:
    """``person_id`` if it names a registered person who has not withdrawn."""
    with reading(engine) as session:
        found = _ERASED_AT.first(session, {"person": person_id})
    return person_id if found is not None and found[0] is None else None


# Asked by every request of a signed-in person (prepared: see vault.store.statements).
_ERASED_AT = Prepared(sa_select(col(Person.erased_at)).where(col(Person.id) == bindparam("person")))


def authenticate_person(engine: Engine, person_id: str, password: str) -> str | None:
    """The person's id if ``password`` is theirs; ``None`` otherwise — the same work (one
    argon2id verification) whether they exist, never did or were erased, in a read-only
    snapshot: no write lock is held while argon2id runs."""
    with reading(engine) as session:
        found = _PASSWORD.first(session, {"person": person_id})
    stored = found[0] if found is not None and found[1] is None else None  # not erased
    return person_id if verify_password(stored, password) else None


# Asked by every citizen's login (prepared: see vault.store.statements).
_PASSWORD = Prepared(
    sa_select(col(Person.password_hash), col(Person.erased_at)).where(
        col(Person.id) == bindparam("person")
    )
)


class Registration(UseCase):
    """A person registers themselves — as in the eHealth app — choosing their own
    password: no operator ever knows it (R9: no operator path to a person's records)."""

    def register(self, new: NewPerson, password: Secret[str]) -> Person:
        """A new person, joined unless ``new.joined`` is false; audited on their chain."""
        if new.date_of_birth > hk_date(self.judge.now()):
            raise Unusable("date_of_birth_in_future", "date_of_birth lies after today.")
        password_hash = hash_password(password.reveal())  # argon2id before the write lock
        pid = new.person_id or new_id()
        new = replace(new, person_id=pid)

        def work(session: Session, now: datetime) -> Person:
            person = create_person(
                session, self.vault.keys, new, password_hash=password_hash, now=now
            )
            caller = Caller(Actor.citizen(pid))
            ask = Ask(Action.REGISTER, pid, resource_id=pid)
            self.judge.record_event(session, Occasion(caller, ask, now), "registered", allowed=True)
            return person

        return self.transact(work)
