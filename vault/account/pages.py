"""The pages of a person's own lists, read by prepared statements (``vault.store.statements``):
the access log (their audit chain, newest first) and their notifications.

Every person reads both whenever they open the app (the simulator reads every person's
back at the end of a run); through the ORM a page cost the statement's build, its cache
key, its compilation lookup and one mapped object a row. Each list has two shapes, the
first page and a page after a cursor, so four statements compiled once. A row becomes a
plain frozen object with the table's column names, which is all its readers use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BindParameter, and_, bindparam, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from vault.store.statements import Prepared
from vault.store.tables import AuditEntry, Notification


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """One entry of a person's access log: an :class:`~vault.store.tables.AuditEntry`'s
    columns but its chain's id (the person's own)."""

    seq: int
    at: datetime
    actor_kind: str
    actor_id: str
    institution_id: str | None
    on_behalf_of: str | None
    person_id: str | None
    action: str
    resource_id: str | None
    allowed: bool
    reason: str
    consent_id: str | None
    request_id: str | None
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True, slots=True)
class Notice:
    """One of a person's notifications: a :class:`~vault.store.tables.Notification`'s
    columns."""

    person_id: str
    id: str
    at: datetime
    channel: str
    event: str
    actor_kind: str
    actor_id: str
    institution_id: str | None
    audit_seq: int | None
    detail_sealed: bytes | None


def _columns(table: type, names: Sequence[str]) -> list[object]:
    return [col(getattr(table, name)) for name in names]


_DECISION_COLUMNS: Sequence[str] = LoggedDecision.__slots__
_NOTICE_COLUMNS: Sequence[str] = Notice.__slots__


def _decisions(after_cursor: bool) -> Prepared:
    where = [col(AuditEntry.chain_id) == bindparam("chain")]
    if after_cursor:
        where.append(col(AuditEntry.seq) < bindparam("before"))
    return Prepared(
        sa_select(*_columns(AuditEntry, _DECISION_COLUMNS))  # type: ignore[call-overload]
        .where(*where)
        .order_by(col(AuditEntry.seq).desc())
        .limit(bindparam("limit"))
    )


def _notices(after_cursor: bool) -> Prepared:
    where = [col(Notification.person_id) == bindparam("person")]
    if after_cursor:
        at: BindParameter[datetime] = bindparam("at")
        ident: BindParameter[str] = bindparam("ident")
        where.append(
            or_(
                col(Notification.at) < at,
                and_(col(Notification.at) == at, col(Notification.id) < ident),
            )
        )
    return Prepared(
        sa_select(*_columns(Notification, _NOTICE_COLUMNS))  # type: ignore[call-overload]
        .where(*where)
        .order_by(col(Notification.at).desc(), col(Notification.id).desc())
        .limit(bindparam("limit"))
    )


_FIRST_DECISIONS, _DECISIONS_BEFORE = _decisions(False), _decisions(True)
_FIRST_NOTICES, _NOTICES_AFTER = _notices(False), _notices(True)


def decisions_page(
    session: Session, person_id: str, before: int | None, limit: int
) -> list[LoggedDecision]:
    """Up to ``limit`` entries of the person's chain, newest first, below ``before``."""
    if before is None:
        rows = _FIRST_DECISIONS.all(session, {"chain": person_id, "limit": limit})
    else:
        values = {"chain": person_id, "before": before, "limit": limit}
        rows = _DECISIONS_BEFORE.all(session, values)
    return [LoggedDecision(*row) for row in rows]


def notices_page(
    session: Session, person_id: str, after: tuple[datetime, str] | None, limit: int
) -> list[Notice]:
    """Up to ``limit`` of the person's notifications, newest first, after ``after``
    (the last one shown: its instant and id)."""
    if after is None:
        rows = _FIRST_NOTICES.all(session, {"person": person_id, "limit": limit})
    else:
        values = {"person": person_id, "at": after[0], "ident": after[1], "limit": limit}
        rows = _NOTICES_AFTER.all(session, values)
    return [Notice(*row) for row in rows]
