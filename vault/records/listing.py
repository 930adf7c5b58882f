"""Finding and listing a person's records under a :class:`RecordFilter` that becomes SQL
predicates — never a post-filter (R10: hidden records are neither returned nor counted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import eq, ge, le
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from policies.model import Obligations, RecordRef
from vault.access import paging
from vault.core.errors import NotFound
from vault.records.sealed import COMMITTED, SUMMARY_COLUMNS, AnyRecord, RecordSummary
from vault.store.statements import PreparedPage
from vault.store.tables import Record


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
    # the deposit instant (``created_at``): only ever a caller's own filter
    created: tuple[datetime | None, datetime | None] = (None, None)

    def narrow(
        self,
        *,
        category: str | None = None,
        source: str | None = None,
        since: date | None = None,
        until: date | None = None,
        created: tuple[datetime | None, datetime | None] = (None, None),
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
            created=created,
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
        low, high = self.created
        if low is not None:
            terms.append(_compare(col(Record.created_at), ge, "created_from", low))
        if high is not None:
            terms.append(_compare(col(Record.created_at), le, "created_to", high))
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
    """The cursor of the page that continues after ``record``."""
    return paging.encode(record.clinical_date.isoformat(), record.id)


def list_visible(
    session: Session,
    person_id: str,
    visible: RecordFilter,
    *,
    limit: int = 50,
    after: tuple[date, str] | None = None,
) -> Page:
    """Newest first, keyset-paged (``after``: the decoded cursor, see
    :func:`vault.access.paging.date_and_id`). Hidden records are excluded by the query
    itself."""
    limit = max(1, min(limit, paging.MAX_PAGE))
    terms = visible.terms()
    values: dict[str, Any] = {"person": person_id, "limit": limit + 1}
    for term in terms:
        values.update(term.values)
    if after is not None:
        values["after_date"], values["after_id"] = after
    shape = (tuple(term.shape for term in terms), after is not None)
    statement = _PAGES.get(shape)
    if statement is None:
        statement = _PAGES[shape] = PreparedPage(_page_query(terms, after=after is not None))
    rows = sorted(statement.all(session, values), key=_newest_first, reverse=True)
    more = len(rows) > limit
    page = [RecordSummary(*row) for row in rows[:limit]]
    return Page(page, encode_cursor(page[-1]) if more and page else None)


def _newest_first(row: tuple[Any, ...]) -> tuple[date, str]:
    return row[_CLINICAL_DATE], row[_ID]


_CLINICAL_DATE, _ID = (
    RecordSummary._fields.index("clinical_date"),
    RecordSummary._fields.index("id"),
)


# One compiled page query per filter shape (which axes, how long the IN lists, whether
# a cursor): a handful in practice.
_PAGES: dict[tuple[tuple[str, ...], bool], PreparedPage] = {}


def _page_query(terms: list[Term], *, after: bool) -> Select[Any]:
    where = [
        col(Record.person_id) == bindparam("person"),
        col(Record.state) == COMMITTED,
        *(term.predicate() for term in terms),
    ]
    if after:
        where.append(_before(bindparam("after_date"), bindparam("after_id")))
    return (
        sa_select(*SUMMARY_COLUMNS)
        .where(*where)
        .order_by(col(Record.clinical_date).desc(), col(Record.id).desc())
        .limit(bindparam("limit"))
    )


def count_visible(session: Session, person_id: str, visible: RecordFilter) -> dict[str, int]:
    """How many of the person's committed records lie inside ``visible``, by category
    (one ``GROUP BY`` in the database, on the same predicates as a listing)."""
    terms = visible.terms()
    query = (
        sa_select(col(Record.category), func.count())
        .where(
            col(Record.person_id) == bindparam("person"),
            col(Record.state) == COMMITTED,
            *(term.predicate() for term in terms),
        )
        .group_by(col(Record.category))
        .order_by(col(Record.category))
    )
    values: dict[str, Any] = {"person": person_id}
    for term in terms:
        values.update(term.values)
    return {str(category): int(n) for category, n in session.execute(query, values)}


def _before(after_date: Any, after_id: Any) -> ColumnElement[bool]:
    return or_(
        col(Record.clinical_date) < after_date,
        and_(col(Record.clinical_date) == after_date, col(Record.id) < after_id),
    )


def record_ref(record: Record) -> RecordRef:
    return RecordRef(
        record.category, record.source, record.clinical_date, record.depositor_institution_id
    )


def visible_filter(obligations: Obligations) -> RecordFilter:
    """The policy's visible set as the store's SQL predicates (never a post-filter)."""
    depositors = obligations.depositors
    if depositors is not None and len(depositors) != 1:
        if depositors:
            raise ValueError("several depositor institutions in one filter")
        return RecordFilter(categories=frozenset())  # nothing
    return RecordFilter(
        categories=(
            frozenset(str(c) for c in obligations.categories)
            if obligations.categories is not None
            else None
        ),
        sources=(
            frozenset(str(s) for s in obligations.sources)
            if obligations.sources is not None
            else None
        ),
        since=obligations.visible_since,
        until=obligations.visible_until,
        depositor_institution_id=next(iter(depositors)) if depositors else None,
    )
