"""The append-only, hash-chained audit log.

Each entry's hash commits to its own fields and to the previous entry's hash, so an
edited, deleted, inserted or reordered entry breaks the chain at a point
:func:`verify_chain` names. Appends lock the single :class:`AuditHead` row, so concurrent
writers queue and the chain never forks; the entry is written in the caller's
transaction, *before* any content leaves (R11).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from vault.models import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64
_BATCH = 2000


@dataclass(frozen=True)
class AuditEvent:
    """What is recorded about one decision. No health data, codes or passcodes."""

    actor_kind: str
    actor_id: str
    action: str
    allowed: bool
    reason: str
    person_id: str | None = None
    institution_id: str | None = None
    on_behalf_of: str | None = None
    resource_id: str | None = None
    consent_id: str | None = None
    request_id: str | None = None


def _fitted(event: AuditEvent) -> AuditEvent:
    """``event`` with every identifier fitting its column. An identifier a caller supplied
    that is longer than its column cannot name anything stored; it is recorded as a marked
    digest (``~`` + SHA-256 hex, cut to the column), so the refusal is still audited."""
    columns = AuditEntry.__table__.columns  # type: ignore[attr-defined]
    overlong: dict[str, Any] = {}
    for name, value in vars(event).items():
        width = getattr(columns[name].type, "length", None)
        if isinstance(value, str) and width is not None and len(value) > width:
            overlong[name] = ("~" + hashlib.sha256(value.encode()).hexdigest())[:width]
    return replace(event, **overlong) if overlong else event


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over a canonical encoding of the entry's fields and ``prev_hash``."""
    fields = {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "institution_id": entry.institution_id,
        "on_behalf_of": entry.on_behalf_of,
        "person_id": entry.person_id,
        "action": entry.action,
        "resource_id": entry.resource_id,
        "allowed": entry.allowed,
        "reason": entry.reason,
        "consent_id": entry.consent_id,
        "request_id": entry.request_id,
        "prev_hash": entry.prev_hash,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def lock_head(session: Session) -> AuditHead:
    """Lock the chain's head for the rest of the transaction.

    Use-cases lock it *before* loading the facts they decide on, so decisions are
    serialised in chain order: an entry that relied on a consent can never follow the
    entry that revoked it.
    """
    return session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()


def append(
    session: Session, event: AuditEvent, *, at: datetime, head: AuditHead | None = None
) -> AuditEntry:
    """Append ``event`` in the caller's transaction and return the stored entry."""
    head = head or lock_head(session)
    entry = AuditEntry(
        seq=head.seq + 1, at=at, prev_hash=head.entry_hash, entry_hash="", **vars(_fitted(event))
    )
    entry.entry_hash = entry_hash(entry)
    head.seq, head.entry_hash = entry.seq, entry.entry_hash
    session.add(entry)
    session.add(head)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.valid:
            return f"audit chain valid: {self.entries} entries"
        return f"audit chain BROKEN at entry {self.first_bad_seq}: {self.problem}"


def _entries_in_order(session: Session) -> Iterator[AuditEntry]:
    last = 0
    while True:
        batch = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.seq) > last)
            .order_by(col(AuditEntry.seq))
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain; name the first entry that was edited, removed or moved."""
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    for entry in _entries_in_order(session):
        problem = _entry_problem(entry, expected_seq, expected_prev)
        if problem:
            return ChainReport(False, count, expected_seq, problem)
        expected_prev, expected_seq, count = entry.entry_hash, entry.seq + 1, count + 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq, head.entry_hash) != (count, expected_prev):
        return ChainReport(
            False, count, count + 1, f"head says {head.seq} entries; chain ends early"
        )
    return ChainReport(True, count)


def _entry_problem(entry: AuditEntry, expected_seq: int, expected_prev: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entry missing (found {entry.seq} where {expected_seq} was expected)"
    if entry.prev_hash != expected_prev:
        return "does not follow the entry before it (deleted or reordered)"
    if entry_hash(entry) != entry.entry_hash:
        return "contents were edited after it was written"
    return None
