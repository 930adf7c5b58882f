"""The append-only audit log: one hash chain per person, and a system chain.

Every decision about a person extends that person's own chain (``chain_id`` = their id);
a decision about no person but an institution (its logins, its admin's changes, its
professionals' failed code guesses) extends that institution's chain (``~i:`` + its id);
any other (operators, unknown accounts) the system chain (``chain_id`` = :data:`SYSTEM`,
the empty string — no person id is empty). Each entry's
hash commits to its own fields, its chain and position, and the previous entry's hash,
so an edited, deleted, inserted or reordered entry breaks its chain at a point
:func:`verify_chains` names.

An append locks only the :class:`~vault.store.tables.AuditChain` row of the chain it
extends (``SELECT … FOR UPDATE``), so decisions about different people never wait for
each other, while decisions about one person stay in order (use-cases lock the chain
*before* reading the facts they decide on). The entry is written in the caller's
transaction, before any content leaves (R11). Signed checkpoints over every chain's
head make the chains tamper-evident as a whole: :mod:`vault.audit`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from vault.store.statements import Prepared
from vault.store.tables import AuditChain, AuditEntry

GENESIS_HASH = "0" * 64
SYSTEM = ""  # the system chain's id
INSTITUTION_CHAIN = "~i:"  # + an institution's id: the chain of its own events
_BATCH = 2000
CHAIN_ID_LENGTH = 40  # the column's width (a person id is 32 hex digits)


def _overlong(value: str, width: int = CHAIN_ID_LENGTH) -> str:
    """An identifier longer than its column, as the marked digest it is recorded as."""
    return ("~" + hashlib.sha256(value.encode()).hexdigest())[:width]


def chain_of(person_id: str | None, institution_id: str | None = None) -> str:
    """The chain an entry about ``person_id`` (or, about nobody, by ``institution_id``)
    extends. An id too long to name anyone stored (a caller's guess) is its marked
    digest, as :func:`append` records it: the refusal is still audited, on a chain of its
    own that no person's decisions share."""
    if person_id:
        return _overlong(person_id) if len(person_id) > CHAIN_ID_LENGTH else person_id
    return f"{INSTITUTION_CHAIN}{institution_id}"[:40] if institution_id else SYSTEM


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
            overlong[name] = _overlong(value, width)
    return replace(event, **overlong) if overlong else event


_HASHED = (
    *("chain_id", "seq", "actor_kind", "actor_id", "institution_id", "on_behalf_of"),
    *("person_id", "action", "resource_id", "allowed", "reason", "consent_id"),
    *("request_id", "prev_hash"),
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
    """A chain's tip as locked by this transaction."""

    chain_id: str
    seq: int
    entry_hash: str


@dataclass(frozen=True)
class Appended:
    chain_id: str
    seq: int
    entry_hash: str


_LOCK_CHAIN = Prepared(
    select(col(AuditChain.length), col(AuditChain.head_hash))
    .where(col(AuditChain.chain_id) == bindparam("chain"))
    .with_for_update()
)
_INSERT_ENTRY = Prepared(insert(AuditEntry))
_MOVE_HEAD = Prepared(update(AuditChain).where(col(AuditChain.chain_id) == bindparam("chain")))


def lock_chain(session: Session, chain_id: str) -> Head:
    """Lock one chain's head for the rest of the transaction (a chain seen for the first
    time is started at the genesis hash). Use-cases lock the chain of the person they
    decide about *before* loading the facts, so that person's decisions are serialised
    in chain order: an entry that relied on a consent can never follow the entry that
    revoked it. Nothing about anyone else is locked."""
    head = _LOCK_CHAIN.first(session, {"chain": chain_id})
    if head is None:
        _start(session, chain_id)
        head = _LOCK_CHAIN.first(session, {"chain": chain_id})
        assert head is not None
    length, tip = head
    return Head(chain_id, length, tip)


def _start(session: Session, chain_id: str) -> None:
    """Insert the chain's head row; a concurrent transaction that started the same chain
    first wins (its row is then locked by the caller's next SELECT … FOR UPDATE)."""
    try:  # through SQLAlchemy (not a prepared cursor), so the driver's error is wrapped
        with session.begin_nested():
            session.execute(
                insert(AuditChain).values(chain_id=chain_id, length=0, head_hash=GENESIS_HASH)
            )
    except IntegrityError:
        pass


def append(
    session: Session, event: AuditEvent, *, at: datetime, head: Head | None = None
) -> Appended:
    """Append ``event`` to its chain in the caller's transaction (plain INSERT and UPDATE
    statements: this runs once per request) and move the locked ``head`` on."""
    event = _fitted(event)
    chain_id = chain_of(event.person_id, event.institution_id)
    if head is None or head.chain_id != chain_id:
        head = lock_chain(session, chain_id)
    values: dict[str, Any] = {
        "chain_id": chain_id,
        "seq": head.seq + 1,
        "at": at,
        "prev_hash": head.entry_hash,
        **vars(event),
    }
    values["entry_hash"] = entry_hash(values)
    _INSERT_ENTRY.run(session, values)
    _MOVE_HEAD.run(
        session, {"chain": chain_id, "length": values["seq"], "head_hash": values["entry_hash"]}
    )
    head.seq, head.entry_hash = values["seq"], values["entry_hash"]
    return Appended(chain_id, values["seq"], values["entry_hash"])


# --- verifying the chains, entry by entry -------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """The chains' verification: valid, or the first broken chain and position."""

    valid: bool
    entries: int
    chains: int = 0
    first_bad_chain: str | None = None
    first_bad_seq: int | None = None
    problem: str | None = None

    def describe(self) -> str:
        if self.valid:
            chains = "chain" if self.chains == 1 else "chains"
            return f"audit chains valid: {self.entries} entries in {self.chains} {chains}"
        return (
            f"audit chain {chain_label(self.first_bad_chain)} BROKEN at entry "
            f"{self.first_bad_seq}: {self.problem}"
        )


def chain_label(chain_id: str | None) -> str:
    if chain_id == SYSTEM:
        return "system"
    if chain_id and chain_id.startswith(INSTITUTION_CHAIN):
        return f"of institution {chain_id.removeprefix(INSTITUTION_CHAIN)}"
    return f"of person {chain_id}"


@dataclass(frozen=True)
class Break:
    """Where one chain fails: its id, the position, and what is wrong there."""

    chain_id: str
    seq: int
    problem: str


def entries_of(session: Session, chain_id: str, after: int = 0) -> Iterator[AuditEntry]:
    """One chain's entries in order, from position ``after + 1``, in batches."""
    last = after
    while True:
        batch = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.chain_id) == chain_id, col(AuditEntry.seq) > last)
            .order_by(col(AuditEntry.seq))
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def chain_ids(session: Session) -> list[str]:
    """Every chain that has a head row or an entry (an entry without a head is a break)."""
    heads = set(session.exec(select(AuditChain.chain_id)).all())
    entries = set(session.exec(select(AuditEntry.chain_id).distinct()).all())
    return sorted(heads | entries)


def verify_chain(session: Session, chain_id: str) -> tuple[int, Break | None]:
    """Walk one chain: (entries that verified, the first break or ``None``)."""
    expected_prev, expected_seq, count = GENESIS_HASH, 1, 0
    for entry in entries_of(session, chain_id):
        problem = _entry_problem(entry, expected_seq, expected_prev)
        if problem:
            return count, Break(chain_id, expected_seq, problem)
        expected_prev, expected_seq, count = entry.entry_hash, entry.seq + 1, count + 1
    head = session.get(AuditChain, chain_id)
    found = _head_problem(head, count, expected_prev)
    return count, None if found is None else Break(chain_id, *found)


def verify_chains(session: Session) -> ChainReport:
    """Walk every chain; name the first edited, removed, inserted or moved entry."""
    total = 0
    ids = chain_ids(session)
    for chain_id in ids:
        count, broken = verify_chain(session, chain_id)
        total += count
        if broken is not None:
            return ChainReport(False, total, len(ids), *vars(broken).values())
    return ChainReport(True, total, len(ids))


def _head_problem(head: AuditChain | None, count: int, last_hash: str) -> tuple[int, str] | None:
    """The head row names the chain's last entry (its number and hash), which is what
    exposes a truncated tail: every entry left still links, but the chain ends early."""
    if head is None:
        return (count or 1), "the chain's head row is missing (deleted)"
    if head.length > count:
        return count + 1, (
            f"entries {count + 1} to {head.length} are missing: the head says {head.length} "
            f"entries, the chain ends after {count} (tail truncated)"
        )
    if head.length < count:
        return head.length + 1, (
            f"entries after {head.length} were written around the head (it says "
            f"{head.length} entries, the chain holds {count})"
        )
    if head.head_hash != last_hash:
        return (count or 1), "the last entry is not the one the head names (replaced or edited)"
    return None


def _entry_problem(entry: AuditEntry, expected_seq: int, expected_prev: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entry missing (found {entry.seq} where {expected_seq} was expected)"
    if entry.prev_hash != expected_prev:
        return "does not follow the entry before it (deleted or reordered)"
    if chain_of(entry.person_id, entry.institution_id) != entry.chain_id:
        return "is about another person than its chain (moved between chains)"
    if entry_hash(entry) != entry.entry_hash:
        return "contents were edited after it was written"
    return None
