"""Persons and records at rest: sealing on the way in, opening on the way out, and
listing under a :class:`RecordFilter` that becomes SQL predicates — never a post-filter.

These functions do not decide who may do what: the use-cases in :mod:`vault.access.judge`
ask :mod:`policies` first and pass the resulting filter down.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import eq, ge, le
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from vault.core.errors import DecryptionFailed, NotFound
from vault.crypto.envelope import SealingKey, record_aad
from vault.keys.datakeys import DataKeys
from vault.store.statements import Prepared
from vault.store.tables import Person, Record

COMMITTED = "committed"
PENDING = "pending"
MAX_PAGE = 200


def new_id() -> str:
    return uuid.uuid4().hex


def _name_aad(person_id: str) -> bytes:
    return b"crossvault person name\x00" + person_id.encode()


@dataclass(frozen=True, slots=True)
class RecordSummary:
    """What a record list shows (and needs to open the title): a plain row, not an ORM
    object, so that listing a page costs one query and no identity-map bookkeeping."""

    id: str
    person_id: str
    category: str
    source: str
    clinical_date: date
    depositor_institution_id: str | None
    content_type: str
    size: int
    title_sealed: bytes


_SUMMARY_COLUMNS = tuple(getattr(Record, name) for name in RecordSummary.__slots__)
AnyRecord = Record | RecordSummary


def _field_aad(record: AnyRecord, field: str) -> bytes:
    return record_aad(record.person_id, record.id, record.category, record.clinical_date) + (
        b"\x00" + field.encode()
    )


# --- persons -------------------------------------------------------------------------


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
    person.name_sealed = key.seal(name.encode(), aad=_name_aad(pid))
    session.add(person)
    session.flush()
    return person


def person_name(session: Session, keys: DataKeys, person: Person) -> str:
    key = keys.get(session, person.id)
    return key.open(person.name_sealed, aad=_name_aad(person.id)).decode()


# --- records -------------------------------------------------------------------------


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
    state: str = COMMITTED,
) -> Record:
    """Seal ``new`` with the person's data key and store it (in the caller's transaction)."""
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
        state=state,
        created_at=now,
    )
    record.title_sealed = key.seal(new.title.encode(), aad=_field_aad(record, "title"))
    record.body_sealed = key.seal(new.content, aad=_field_aad(record, "body"))
    record.digest = hashlib.sha256(record.body_sealed).hexdigest()
    session.add(record)
    session.flush()
    return record


def record_title(key: SealingKey, record: AnyRecord) -> str:
    try:
        return key.open(record.title_sealed, aad=_field_aad(record, "title")).decode()
    except UnicodeDecodeError:  # pragma: no cover - sealed titles are always UTF-8
        raise DecryptionFailed() from None


def open_record(session: Session, keys: DataKeys, record: Record) -> OpenedRecord:
    """Decrypt title and inline body. Callers must have asked the policy first."""
    key = keys.get(session, record.person_id)
    body = b""
    if record.body_sealed is not None:
        body = key.open(record.body_sealed, aad=_field_aad(record, "body"))
    return OpenedRecord(record, record_title(key, record), body)


def seal_metadata(key: SealingKey, record: Record, metadata: dict[str, Any]) -> bytes:
    plain = json.dumps(metadata, sort_keys=True).encode()
    return key.seal(plain, aad=_field_aad(record, "metadata"))


def open_metadata(key: SealingKey, record: Record) -> dict[str, Any]:
    if record.metadata_sealed is None:
        return {}
    plain = key.open(record.metadata_sealed, aad=_field_aad(record, "metadata"))
    loaded: dict[str, Any] = json.loads(plain)
    return loaded


# --- finding and listing ------------------------------------------------------------


@dataclass(frozen=True)
class RecordFilter:
    """Which of a person's records a caller may see, as SQL predicates.

    ``None`` means "no restriction on this axis". Built from a policy decision's
    obligations, then narrowed by the caller's own query parameters (:meth:`narrow`).
    """

    categories: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    since: date | None = None
    until: date | None = None
    depositor_institution_id: str | None = None

    def narrow(
        self,
        *,
        category: str | None = None,
        source: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> RecordFilter:
        """The intersection with a caller's own filters (never widens)."""
        return RecordFilter(
            categories=_meet(self.categories, category),
            sources=_meet(self.sources, source),
            since=max(d for d in (self.since, since) if d is not None)
            if (self.since or since)
            else None,
            until=min(d for d in (self.until, until) if d is not None)
            if (self.until or until)
            else None,
            depositor_institution_id=self.depositor_institution_id,
        )

    def predicates(self) -> list[ColumnElement[bool]]:
        return [term.predicate() for term in self.terms()]

    def terms(self) -> list[Term]:
        """One term per restricted axis. Its parameters are named and carry their values,
        so filters of one shape compile to one statement (see :func:`list_visible`)."""
        terms: list[Term] = []
        if self.categories is not None:
            terms.append(_among(col(Record.category), "category", self.categories))
        if self.sources is not None:
            terms.append(_among(col(Record.source), "source", self.sources))
        if self.since is not None:
            terms.append(_compare(col(Record.clinical_date), ge, "since", self.since))
        if self.until is not None:
            terms.append(_compare(col(Record.clinical_date), le, "until", self.until))
        if self.depositor_institution_id is not None:
            depositor = col(Record.depositor_institution_id)
            terms.append(_compare(depositor, eq, "depositor", self.depositor_institution_id))
        return terms


@dataclass(frozen=True)
class Term:
    """One axis of a :class:`RecordFilter`: its predicate (built only when a statement of
    this shape is compiled), its parameters' values, and its shape (the axis and, for an
    IN list, its length)."""

    predicate: Callable[[], ColumnElement[bool]]
    values: dict[str, Any]
    shape: str


def _compare(column: Any, compare: Callable[[Any, Any], Any], name: str, value: Any) -> Term:
    return Term(lambda: compare(column, bindparam(name, value)), {name: value}, name)


def _among(column: Any, axis: str, allowed: frozenset[str]) -> Term:
    if not allowed:
        return Term(false, {}, f"{axis}:0")
    values = {f"{axis}_{i}": value for i, value in enumerate(sorted(allowed))}

    def predicate() -> ColumnElement[bool]:
        return column.in_([bindparam(name, value) for name, value in values.items()])  # type: ignore[no-any-return]

    return Term(predicate, values, f"{axis}:{len(values)}")


def _meet(allowed: frozenset[str] | None, wanted: str | None) -> frozenset[str] | None:
    if wanted is None:
        return allowed
    if allowed is None:
        return frozenset({wanted})
    return allowed & {wanted}


def find_visible(session: Session, person_id: str, record_id: str, visible: RecordFilter) -> Record:
    """The record if it is committed and inside ``visible``; otherwise :class:`NotFound`
    — the same for a record that exists but is hidden and one that never existed (R10)."""
    record = session.exec(
        select(Record).where(
            Record.id == record_id,
            Record.person_id == person_id,
            Record.state == COMMITTED,
            *visible.predicates(),
        )
    ).first()
    if record is None:
        raise NotFound("record not found")
    return record


@dataclass(frozen=True)
class Page:
    records: Sequence[RecordSummary]
    next_cursor: str | None


def encode_cursor(record: AnyRecord) -> str:
    raw = json.dumps([record.clinical_date.isoformat(), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[date, str]:
    """Raises ``ValueError`` for anything that is not a cursor this module made."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        clinical, rid = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return date.fromisoformat(clinical), str(rid)
    except Exception as exc:
        raise ValueError("malformed cursor") from exc


def list_visible(
    session: Session,
    person_id: str,
    visible: RecordFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Newest first, keyset-paged. Hidden records are excluded by the query itself."""
    limit = max(1, min(limit, MAX_PAGE))
    terms = visible.terms()
    values: dict[str, Any] = {"person": person_id, "limit": limit + 1}
    for term in terms:
        values.update(term.values)
    if cursor is not None:
        values["after_date"], values["after_id"] = decode_cursor(cursor)
    shape = (tuple(term.shape for term in terms), cursor is not None)
    statement = _PAGES.get(shape)
    if statement is None:
        statement = _PAGES[shape] = Prepared(_page_query(terms, after=cursor is not None))
    rows = statement.all(session, values)
    more = len(rows) > limit
    page = [RecordSummary(*row) for row in rows[:limit]]
    return Page(page, encode_cursor(page[-1]) if more and page else None)


# One compiled page query per filter shape (which axes, how long the IN lists, whether
# a cursor): a handful in practice.
_PAGES: dict[tuple[tuple[str, ...], bool], Prepared] = {}


def _page_query(terms: list[Term], *, after: bool) -> Select[Any]:
    where = [
        col(Record.person_id) == bindparam("person"),
        col(Record.state) == COMMITTED,
        *(term.predicate() for term in terms),
    ]
    if after:
        where.append(_before(bindparam("after_date"), bindparam("after_id")))
    return (
        sa_select(*_SUMMARY_COLUMNS)
        .where(*where)
        .order_by(col(Record.clinical_date).desc(), col(Record.id).desc())
        .limit(bindparam("limit"))
    )


def _before(after_date: Any, after_id: Any) -> ColumnElement[bool]:
    return or_(
        col(Record.clinical_date) < after_date,
        and_(col(Record.clinical_date) == after_date, col(Record.id) < after_id),
    )
