"""per-person audit chains and signed checkpoints

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:30:00

The one global hash chain (``auditentry`` numbered by ``seq``, its tip in the single
``audithead`` row every append locked) becomes one chain per person, one per institution
(events about no person but an institution) and a system chain: ``auditentry`` keyed by
``(chain_id, seq)``, each chain's tip in its own ``auditchain`` row. Signed checkpoints
get their tables (``auditcheckpoint``, ``auditcheckpointleaf``).

The old chain is verified first, entry by entry and against its head; a chain that does
not verify is refused, naming the broken entry — converting it would launder the
tampering into fresh hashes. Then every entry is re-linked into its new chain, in the old
order, its hash recomputed; notifications that named an entry by its global number name
it by its position in the person's chain. Downgrading merges the chains back into one,
in the order of their times (then chain, then position).

The hash functions and the chain rule are spelt out here, frozen: a revision must not
change when application code does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64
BATCH = 2000
FIELDS = (
    "at",
    "actor_kind",
    "actor_id",
    "institution_id",
    "on_behalf_of",
    "person_id",
    "action",
    "resource_id",
    "allowed",
    "reason",
    "consent_id",
    "request_id",
)
OLD_HASHED = (
    *("seq", "actor_kind", "actor_id", "institution_id", "on_behalf_of", "person_id"),
    *("action", "resource_id", "allowed", "reason", "consent_id", "request_id", "prev_hash"),
)
NEW_HASHED = ("chain_id", *OLD_HASHED)


def _hash(values: dict[str, Any], names: Sequence[str]) -> str:
    fields = {name: values[name] for name in names}
    fields["at"] = values["at"].replace(tzinfo=dt.UTC).isoformat()
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _chain_of(values: dict[str, Any]) -> str:
    if values["person_id"]:
        return str(values["person_id"])
    institution = values["institution_id"]
    return f"~i:{institution}"[:40] if institution else ""


def _entry_columns(*extra: sa.Column[Any]) -> list[sa.Column[Any]]:
    return [
        *extra,
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(30), nullable=False),
        sa.Column("actor_id", sa.String(80), nullable=False),
        sa.Column("institution_id", sa.String(80), nullable=True),
        sa.Column("on_behalf_of", sa.String(40), nullable=True),
        sa.Column("person_id", sa.String(40), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("resource_id", sa.String(80), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("consent_id", sa.String(40), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    ]


TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "at": sa.DateTime(),
    "allowed": sa.Boolean(),
    "seq": sa.Integer(),
    "audit_seq": sa.Integer(),
}


def _table(name: str, *columns: str) -> sa.TableClause:
    """A lightweight table; typed where the hash needs Python values (a boolean, not 1)."""
    return sa.table(name, *(sa.column(c, TYPES.get(c)) for c in columns))


OLD = _table("auditentry", "seq", *FIELDS, "prev_hash", "entry_hash")
NEW_COLUMNS = ("chain_id", "seq", *FIELDS, "prev_hash", "entry_hash")
NOTIFICATION = _table("notification", "id", "audit_seq")


def _read(
    bind: sa.Connection, table: sa.TableClause, order: Sequence[str]
) -> Iterator[dict[str, Any]]:
    """Every row of ``table`` in ``order`` (unique), in batches keyed on those columns."""
    key = [table.c[o] for o in order]
    last: tuple[Any, ...] | None = None
    while True:
        query = sa.select(table).order_by(*key).limit(BATCH)
        if last is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*(sa.literal(v) for v in last)))
        rows = bind.execute(query).mappings().all()
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = tuple(rows[-1][o] for o in order)


class BrokenChain(RuntimeError):
    """The chain to convert does not verify: refused, naming where."""


def _check_old_chain(bind: sa.Connection) -> int:
    """Verify the global chain entry by entry and against its head; its length."""
    expected_prev, expected_seq = GENESIS_HASH, 1
    for row in _read(bind, OLD, ["seq"]):
        problem = None
        if row["seq"] != expected_seq:
            problem = f"entry missing (found {row['seq']} where {expected_seq} was expected)"
        elif row["prev_hash"] != expected_prev:
            problem = "does not follow the entry before it (deleted or reordered)"
        elif _hash(row, OLD_HASHED) != row["entry_hash"]:
            problem = "contents were edited after it was written"
        if problem:
            raise BrokenChain(
                f"the audit chain does not verify at entry {expected_seq}: {problem}; "
                "nothing was converted (restore the database from a backup that verifies)"
            )
        expected_prev, expected_seq = row["entry_hash"], row["seq"] + 1
    head = bind.execute(sa.text("SELECT seq, entry_hash FROM audithead WHERE id = 1")).first()
    if head is None or (head[0], head[1]) != (expected_seq - 1, expected_prev):
        raise BrokenChain(
            f"the audit chain's head does not name its last entry ({expected_seq - 1}): the "
            "tail was truncated or replaced; nothing was converted"
        )
    return expected_seq - 1


def _relink(
    rows: Iterator[dict[str, Any]],
    chain_rule: Callable[[dict[str, Any]], str],
    names: Sequence[str],
    tips: dict[str, tuple[int, str]],
) -> Iterator[dict[str, Any]]:
    """Each row re-linked into its chain (``chain_rule``); ``tips`` follows the chains."""
    for row in rows:
        chain = chain_rule(row)
        length, prev = tips.get(chain, (0, GENESIS_HASH))
        was = (row.get("chain_id", ""), row["seq"])
        new = {**row, "chain_id": chain, "seq": length + 1, "prev_hash": prev, "_was": was}
        new["entry_hash"] = _hash(new, names)
        tips[chain] = (length + 1, new["entry_hash"])
        yield new


def upgrade() -> None:
    bind = op.get_bind()
    _check_old_chain(bind)
    op.create_table(
        "auditentry_chained",
        *_entry_columns(
            sa.Column("chain_id", sa.String(40), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
        ),
        sa.PrimaryKeyConstraint("chain_id", "seq", name="pk_auditentry_chained"),
    )
    chained = _table("auditentry_chained", *NEW_COLUMNS)
    renumbered: dict[int, int] = {}
    tips: dict[str, tuple[int, str]] = {}
    batch: list[dict[str, Any]] = []
    for new in _relink(_read(bind, OLD, ["seq"]), _chain_of, NEW_HASHED, tips):
        batch.append({k: new[k] for k in NEW_COLUMNS})
        if new["person_id"]:
            renumbered[new["_was"][1]] = new["seq"]
        if len(batch) >= BATCH:
            bind.execute(chained.insert(), batch)
            batch = []
    if batch:
        bind.execute(chained.insert(), batch)
    _renumber_notifications(bind, renumbered)
    op.drop_index("ix_auditentry_person_id", table_name="auditentry")
    op.drop_table("auditentry")
    op.rename_table("auditentry_chained", "auditentry")
    op.drop_table("audithead")
    _create_heads(tips)
    _create_checkpoint_tables()


def _renumber_notifications(bind: sa.Connection, renumbered: dict[int, int]) -> None:
    """A notification names the entry about its person: now by its chain position."""
    rows = bind.execute(
        sa.select(NOTIFICATION.c.id, NOTIFICATION.c.audit_seq).where(
            NOTIFICATION.c.audit_seq.is_not(None)
        )
    ).all()
    updates = [
        {"nid": nid, "new_seq": renumbered.get(seq)} for nid, seq in rows if seq in renumbered
    ]
    if updates:
        bind.execute(
            NOTIFICATION.update()
            .where(NOTIFICATION.c.id == sa.bindparam("nid"))
            .values(audit_seq=sa.bindparam("new_seq")),
            updates,
        )


def _create_heads(tips: dict[str, tuple[int, str]]) -> None:
    heads = op.create_table(
        "auditchain",
        sa.Column("chain_id", sa.String(40), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id"),
    )
    rows = [{"chain_id": c, "length": n, "head_hash": h} for c, (n, h) in tips.items()]
    if rows and heads is not None:
        op.bulk_insert(heads, rows)


def _create_checkpoint_tables() -> None:
    op.create_table(
        "auditcheckpoint",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("prev_root_hash", sa.String(64), nullable=False),
        sa.Column("kid", sa.String(40), nullable=False),
        sa.Column("signature", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "auditcheckpointleaf",
        sa.Column("chain_id", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number"),
    )


def downgrade() -> None:
    """Merge the chains into one global chain (by time, then chain, then position)."""
    bind = op.get_bind()
    op.drop_table("auditcheckpointleaf")
    op.drop_table("auditcheckpoint")
    op.create_table(
        "auditentry_global",
        *_entry_columns(sa.Column("seq", sa.Integer(), nullable=False)),
        sa.PrimaryKeyConstraint("seq", name="pk_auditentry_global"),
    )
    merged = _table("auditentry_global", "seq", *FIELDS, "prev_hash", "entry_hash")
    current = _table("auditentry", *NEW_COLUMNS)
    renumbered: dict[tuple[str, int], int] = {}
    tips: dict[str, tuple[int, str]] = {}
    batch: list[dict[str, Any]] = []
    ordered = _read(bind, current, ["at", "chain_id", "seq"])
    for new in _relink(ordered, lambda _row: "", OLD_HASHED, tips):
        renumbered[new["_was"]] = new["seq"]
        batch.append({k: new[k] for k in ("seq", *FIELDS, "prev_hash", "entry_hash")})
        if len(batch) >= BATCH:
            bind.execute(merged.insert(), batch)
            batch = []
    if batch:
        bind.execute(merged.insert(), batch)
    _renumber_back(bind, renumbered)
    op.drop_table("auditentry")
    op.drop_table("auditchain")
    op.rename_table("auditentry_global", "auditentry")
    op.create_index("ix_auditentry_person_id", "auditentry", ["person_id"])
    head = op.create_table(
        "audithead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if head is not None:
        length, tip = tips.get("", (0, GENESIS_HASH))
        op.bulk_insert(head, [{"id": 1, "seq": length, "entry_hash": tip}])


def _renumber_back(bind: sa.Connection, renumbered: dict[tuple[str, int], int]) -> None:
    person = _table("notification", "id", "person_id", "audit_seq")
    rows = bind.execute(
        sa.select(person.c.id, person.c.person_id, person.c.audit_seq).where(
            person.c.audit_seq.is_not(None)
        )
    ).all()
    updates = [
        {"nid": nid, "new_seq": renumbered[(pid, seq)]}
        for nid, pid, seq in rows
        if (pid, seq) in renumbered
    ]
    if updates:
        bind.execute(
            person.update()
            .where(person.c.id == sa.bindparam("nid"))
            .values(audit_seq=sa.bindparam("new_seq")),
            updates,
        )
