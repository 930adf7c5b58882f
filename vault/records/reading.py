"""Reading and adding records, for every kind of caller, through the policy.

Each function runs one transaction: decide → audit (→ notify) → query/decrypt → commit,
and only after the commit is anything returned (a list opens its titles just after the
commit, outside the write lock). A denied read raises ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from policies.model import Obligations, RecordRef
from policies.vocabulary import Action
from vault.access.judge import Ask, Caller, Judge
from vault.core.errors import Denied, NotFound
from vault.crypto.envelope import SealingKey
from vault.records.listing import Page, find_visible, list_visible, record_ref, visible_filter
from vault.records.sealed import (
    COMMITTED,
    AnyRecord,
    NewRecord,
    OpenedRecord,
    add_record,
    open_record,
    record_title,
)
from vault.store.engine import transaction
from vault.store.tables import Record


@dataclass(frozen=True)
class RecordQuery:
    category: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class RecordView:
    record: AnyRecord
    title: str


@dataclass(frozen=True)
class RecordList:
    items: Sequence[RecordView]
    next_cursor: str | None


def _committed(session: Session, person_id: str, record_id: str) -> Record | None:
    return session.exec(
        select(Record).where(
            Record.id == record_id, Record.person_id == person_id, Record.state == COMMITTED
        )
    ).first()


@dataclass(frozen=True)
class _SealedPage:
    """A page of records still sealed, with the data key that opens them."""

    page: Page
    key: SealingKey | None

    def opened(self) -> RecordList:
        key = self.key
        if key is None:
            return RecordList([], self.page.next_cursor)
        views = [RecordView(r, record_title(key, r)) for r in self.page.records]
        return RecordList(views, self.page.next_cursor)


class Records:
    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.vault = judge.vault

    def list(
        self, caller: Caller, person_id: str, query: RecordQuery, *, session_id: str | None = None
    ) -> RecordList:
        """The page is chosen and the decision audited in one transaction; the titles are
        opened after it commits, so the write lock is not held while decrypting."""
        now = self.judge.now()
        sealed: _SealedPage | None = None
        with transaction(self.vault.engine) as session:
            ask = Ask(Action.LIST_RECORDS, person_id, session_id=session_id)
            decision = self.judge.decide(session, caller, ask, now)
            if decision.allowed:
                sealed = self._visible_page(session, person_id, decision.obligations, query)
        if sealed is None:
            raise NotFound("no such person or records")
        return sealed.opened()

    def _visible_page(
        self, session: Session, person_id: str, obligations: Obligations, query: RecordQuery
    ) -> _SealedPage:
        visible = visible_filter(obligations).narrow(
            category=query.category, source=query.source, since=query.since, until=query.until
        )
        page = list_visible(session, person_id, visible, limit=query.limit, cursor=query.cursor)
        key = self.vault.keys.get(session, person_id) if page.records else None
        return _SealedPage(page, key)

    def get(
        self, caller: Caller, person_id: str, record_id: str, *, session_id: str | None = None
    ) -> RecordView:
        opened = self._read(caller, person_id, record_id, Action.READ_RECORD, session_id)
        return RecordView(opened.record, opened.title)

    def content(
        self, caller: Caller, person_id: str, record_id: str, *, session_id: str | None = None
    ) -> OpenedRecord:
        return self._read(caller, person_id, record_id, Action.READ_CONTENT, session_id)

    def _read(
        self, caller: Caller, person_id: str, record_id: str, action: Action, session_id: str | None
    ) -> OpenedRecord:
        now = self.judge.now()
        opened: OpenedRecord | None = None
        with transaction(self.vault.engine) as session:
            record = _committed(session, person_id, record_id)
            ask = Ask(
                action,
                person_id,
                record=record_ref(record) if record else None,
                resource_id=record_id,
                session_id=session_id,
            )
            decision = self.judge.decide(session, caller, ask, now)
            if decision.allowed and record is not None:
                visible = find_visible(
                    session, person_id, record_id, visible_filter(decision.obligations)
                )
                opened = open_record(session, self.vault.keys, visible)
        if opened is None:
            raise NotFound("record not found")
        return opened

    def deposit(
        self, caller: Caller, person_id: str, new: NewRecord, action: Action = Action.DEPOSIT_RECORD
    ) -> Record:
        """An HK provider's eHR deposit, or a person's own Personal Folder upload (R6)."""
        now = self.judge.now()
        ref = RecordRef(new.category, new.source, new.clinical_date, new.depositor_institution_id)
        stored: Record | None = None
        with transaction(self.vault.engine) as session:
            decision = self.judge.decide(session, caller, Ask(action, person_id, record=ref), now)
            if decision.allowed:
                stored = add_record(session, self.vault.keys, person_id, new, now=now)
        if stored is None:
            raise Denied(str(action))
        return stored
