"""Reading and adding records, for every kind of caller, through the policy.

Each use-case runs the one skeleton (:class:`~vault.access.usecase.UseCase`): decide →
audit (→ notify) → query/decrypt → commit, and only after the commit is anything returned
or raised. A list opens its titles just after the commit, outside the write lock. A
refused read is :class:`~vault.core.errors.NotFound`, the same as a record that does not
exist (R10); a refused deposit names only the action tried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from policies.dates import hk_date
from policies.model import Decision, RecordRef
from policies.vocabulary import Action, ActorKind
from vault.access import paging
from vault.access.judge import Ask, Caller, Occasion
from vault.access.usecase import Unusable, UseCase, denied, not_found, refusal
from vault.core.errors import DecryptionFailed, VaultError
from vault.crypto.envelope import SealingKey
from vault.records.blob_content import BlobContent, open_blob_record
from vault.records.listing import Page, find_visible, list_visible, visible_filter
from vault.records.sealed import (
    COMMITTED,
    AnyRecord,
    NewRecord,
    OpenedRecord,
    TitleOpener,
    add_record,
    open_record,
    title_opener,
)
from vault.store.statements import Prepared
from vault.store.tables import Record


@dataclass(frozen=True)
class RecordQuery:
    category: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None
    created: tuple[datetime | None, datetime | None] = (None, None)  # deposited from, to
    limit: int = 50
    cursor: str | None = None


INTEGRITY_FAILURE = "integrity_failure"  # audited when a stored record fails to open


@dataclass(frozen=True)
class RecordView:
    """A record as a caller sees it: its row and its title (``None``: the title failed
    its integrity check, and the item says so instead of failing the whole list)."""

    record: AnyRecord
    title: str | None

    @property
    def damaged(self) -> bool:
        return self.title is None


@dataclass(frozen=True)
class RecordList:
    items: Sequence[RecordView]
    next_cursor: str | None


def _committed_ref(session: Session, person_id: str, record_id: str) -> RecordRef | None:
    """What the policy asks about a committed record (category, source, clinical date,
    depositor), or ``None``: the same statement whether or not it exists."""
    found = _COMMITTED_REF.first(session, {"person": person_id, "id": record_id})
    return RecordRef(*found) if found is not None else None


# Asked by every read of one record (prepared: see vault.store.statements).
_COMMITTED_REF = Prepared(
    sa_select(
        col(Record.category),
        col(Record.source),
        col(Record.clinical_date),
        col(Record.depositor_institution_id),
    ).where(
        col(Record.id) == bindparam("id"),
        col(Record.person_id) == bindparam("person"),
        col(Record.state) == COMMITTED,
    )
)


@dataclass(frozen=True)
class _SealedPage:
    """A page of records still sealed, with the data key that opens them."""

    page: Page
    key: SealingKey | None

    def opened(self) -> RecordList:
        records = self.page.records
        if self.key is None or not records:
            return RecordList([], self.page.next_cursor)
        title = title_opener(self.key, records[0].person_id)
        views = [RecordView(r, _title_or_none(title, r)) for r in records]
        return RecordList(views, self.page.next_cursor)


def _title_or_none(title: TitleOpener, record: AnyRecord) -> str | None:
    try:
        return title(record)
    except DecryptionFailed:
        return None


PersonLookup = Callable[[Session], "str | VaultError"]
"""Whose records, read in the list's own transaction (e.g. a viewing session's person);
or the refusal, already audited, to raise after the commit."""


class Records(UseCase):
    def list(
        self,
        caller: Caller,
        person: str | PersonLookup,
        query: RecordQuery,
        *,
        session_id: str | None = None,
    ) -> RecordList:
        """The page is chosen and the decision audited in one transaction (in which
        ``person``, when a lookup, is found first); the titles are opened after it
        commits, so the write lock is not held while decrypting."""
        after = paging.date_and_id(query.cursor)
        asked: Ask | None = None

        def ask(session: Session) -> Ask | VaultError:
            nonlocal asked
            person_id = person if isinstance(person, str) else person(session)
            if isinstance(person_id, VaultError):
                return person_id
            asked = Ask(Action.LIST_RECORDS, person_id, session_id=session_id)
            return asked

        def page(session: Session, decision: Decision, now: datetime) -> _SealedPage:
            assert asked is not None and asked.person_id is not None
            visible = visible_filter(decision.obligations).narrow(
                category=query.category,
                source=query.source,
                since=query.since,
                until=query.until,
                created=query.created,
            )
            found = list_visible(session, asked.person_id, visible, limit=query.limit, after=after)
            key = self.vault.keys.get(session, asked.person_id) if found.records else None
            return _SealedPage(found, key)

        listed = self.decide_then(caller, ask, page, refuse=not_found, savepoint=False).opened()
        damaged = [v.record.id for v in listed.items if v.damaged]
        if damaged and asked is not None:  # after the commit: the list was audited already
            self._audit_damage(caller, replace(asked, resource_id=",".join(damaged)))
        return listed

    def _audit_damage(self, caller: Caller, ask: Ask) -> None:
        def record(session: Session, now: datetime) -> None:
            self.judge.record_event(session, Occasion(caller, ask, now), INTEGRITY_FAILURE)

        self.transact(record)

    def get(
        self, caller: Caller, person_id: str, record_id: str, *, session_id: str | None = None
    ) -> RecordView:
        opened = self._read(caller, person_id, record_id, Action.READ_RECORD, session_id)
        return RecordView(opened.record, opened.title)

    def content(
        self, caller: Caller, person_id: str, record_id: str, *, session_id: str | None = None
    ) -> OpenedRecord:
        return self._read(caller, person_id, record_id, Action.READ_CONTENT, session_id)

    def blob(
        self, caller: Caller, opened: OpenedRecord, *, session_id: str | None = None
    ) -> BlobContent:
        """The sealed blob of a record whose content read was just decided and audited
        (:meth:`content`). A blob gone from its store, or not fitting its record, raises
        :class:`DecryptionFailed` after that failure is audited too."""
        record = opened.record
        try:
            return open_blob_record(self.vault, record)
        except DecryptionFailed:
            ask = Ask(
                Action.READ_CONTENT, record.person_id, resource_id=record.id, session_id=session_id
            )
            self._audit_damage(caller, ask)
            raise

    def _read(
        self, caller: Caller, person_id: str, record_id: str, action: Action, session_id: str | None
    ) -> OpenedRecord:
        def ask(session: Session) -> Ask:
            return Ask(
                action,
                person_id,
                record=_committed_ref(session, person_id, record_id),
                resource_id=record_id,
                session_id=session_id,
            )

        def read(session: Session, decision: Decision, now: datetime) -> OpenedRecord:
            visible = visible_filter(decision.obligations)
            record = find_visible(session, person_id, record_id, visible)
            try:
                return open_record(session, self.vault.keys, record)
            except DecryptionFailed:  # the view stays audited, and so does the failure
                ask = Ask(action, person_id, resource_id=record_id, session_id=session_id)
                self.judge.record_event(session, Occasion(caller, ask, now), INTEGRITY_FAILURE)
                raise

        return self.decide_then(caller, ask, read, refuse=not_found, savepoint=False)

    def deposit(
        self, caller: Caller, person_id: str, new: NewRecord, action: Action = Action.DEPOSIT_RECORD
    ) -> Record:
        """An HK provider's eHR deposit, or a person's own Personal Folder upload (R6): the
        person (or caregiver) is refused like every other account action (a would-be
        caregiver gets the canonical ``NotFound``); a provider's refusal names the action."""
        if new.clinical_date > hk_date(self.judge.now()):
            raise Unusable(
                "clinical_date_in_future",
                "clinical_date lies after today's date in Hong Kong.",
            )
        ref = RecordRef(new.category, new.source, new.clinical_date, new.depositor_institution_id)

        def store(session: Session, now: datetime) -> Record:
            return add_record(session, self.vault.keys, person_id, new, now=now)

        personal = caller.actor.kind in (ActorKind.CITIZEN, ActorKind.CAREGIVER)
        ask = Ask(action, person_id, record=ref)
        refuse = refusal if personal else denied
        # No savepoint: the work's one write (the insert) is its last statement, so an
        # error before it leaves nothing to undo, and a failing insert fails the whole
        # transaction. (A savepoint cost about a seventh of a deposit's time.)
        return self.run(caller, ask, store, refuse=refuse, savepoint=False)
