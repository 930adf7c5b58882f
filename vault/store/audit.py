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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import NoResultFound
from sqlmodel import Session, col, select

from vault.store.statements import Prepared
from vault.store.tables import AuditEntry, AuditHead

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


_HASHED = (
    *("seq", "actor_kind", "actor_id", "institution_id", "on_behalf_of", "person_id"),
    *("action", "resource_id", "allowed", "reason", "consent_id", "request_id", "prev_hash"),
)


def entry_hash(entry: AuditEntry | Mapping[str, Any]) -> str:
    """SHA-256 over a canonical encoding of the entry's fields and ``prev_hash``."""
    if isinstance(entry, Mapping):
        fields = {name: entry[name] for name in _HASHED}
        fields["at"] = entry["at"].isoformat()
    else:
        fields = {name: getattr(entry, name) for name in _HASHED}
        fields["at"] = entry.at.isoformat()
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Head:
    """The chain's tip as locked by this transaction."""

    seq: int
    entry_hash: str


@dataclass(frozen=True)
class Appended:
    seq: int
    entry_hash: str


_LOCK_HEAD = Prepared(
    select(col(AuditHead.seq), col(AuditHead.entry_hash))
    .where(col(AuditHead.id) == 1)
    .with_for_update()
)
_INSERT_ENTRY = Prepared(insert(AuditEntry))
_MOVE_HEAD = Prepared(update(AuditHead).where(col(AuditHead.id) == 1))


def lock_head(session: Session) -> Head:
    """Lock the chain's head for the rest of the transaction.

    Use-cases lock it *before* loading the facts they decide on, so decisions are
    serialised in chain order: an entry that relied on a consent can never follow the
    entry that revoked it.
    """
    head = _LOCK_HEAD.first(session)
    if head is None:
        raise NoResultFound("the audit chain has no head row")
    seq, tip = head
    return Head(seq, tip)


def append(
    session: Session, event: AuditEvent, *, at: datetime, head: Head | None = None
) -> Appended:
    """Append ``event`` in the caller's transaction (plain INSERT and UPDATE statements:
    this runs once per request) and move the locked ``head`` on."""
    head = head or lock_head(session)
    values: dict[str, Any] = {
        "seq": head.seq + 1,
        "at": at,
        "prev_hash": head.entry_hash,
        **vars(_fitted(event)),
    }
    values["entry_hash"] = entry_hash(values)
    _INSERT_ENTRY.run(session, values)
    _MOVE_HEAD.run(session, {"seq": values["seq"], "entry_hash": values["entry_hash"]})
    head.seq, head.entry_hash = values["seq"], values["entry_hash"]
    return Appended(values["seq"], values["entry_hash"])


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
    head_problem = _head_problem(session.get(AuditHead, 1), count, expected_prev)
    if head_problem is not None:
        bad_seq, text = head_problem
        return ChainReport(False, count, bad_seq, text)
    return ChainReport(True, count)


def _head_problem(head: AuditHead | None, count: int, last_hash: str) -> tuple[int, str] | None:
    """The head row names the chain's last entry (its number and hash), which is what
    exposes a truncated tail: every entry left still links, but the chain ends early."""
    if head is None:
        return (count or 1), "the chain's head row is missing (deleted)"
    if head.seq > count:
        return count + 1, (
            f"entries {count + 1} to {head.seq} are missing: the head says {head.seq} "
            f"entries, the chain ends after {count} (tail truncated)"
        )
    if head.seq < count:
        return head.seq + 1, (
            f"entries after {head.seq} were written around the head (it says {head.seq} "
            f"entries, the chain holds {count})"
        )
    if head.entry_hash != last_hash:
        return (count or 1), "the last entry is not the one the head names (replaced or edited)"
    return None


def _entry_problem(entry: AuditEntry, expected_seq: int, expected_prev: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entry missing (found {entry.seq} where {expected_seq} was expected)"
    if entry.prev_hash != expected_prev:
        return "does not follow the entry before it (deleted or reordered)"
    if entry_hash(entry) != entry.entry_hash:
        return "contents were edited after it was written"
    return None
