"""per-person keys: ready for distribution by person

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:00:00

Every table of a person's data gets the person in its keys, so it can be distributed by
person (Citus, ``docs/scale-out.md``): the primary key becomes ``(person_id, id)``, every
unique constraint leads with ``person_id`` (the code hashes keep a plain index for the
lookup by code), and the foreign keys between these tables become composite
(``(person_id, authorisation_id)`` → ``(person_id, id)``). ``radiologyfile`` gains its
person (its deposit's). A new ``handle`` table names the person of each handle a caller
holds alone — a viewing session's id, a radiology deposit's — filled from the rows that
exist.

Each table is rebuilt the same way on SQLite and PostgreSQL: the new table is created
beside the old (``<name>_h16``), the rows copied, the old tables dropped (children first)
and the new renamed; on PostgreSQL the constraints then get the names PostgreSQL gives a
table created under its own name. Downgrading rebuilds the 0005 tables the same way.
The definitions are frozen here: a revision must not change when application code does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEMP = "_h16"
PG_NAME_LIMIT = 63


def _s(n: int) -> sa.String:
    return sa.String(length=n)


def _cols(spec: str) -> list[tuple[str, Callable[[], sa.types.TypeEngine[Any]], bool]]:
    """``name:type[?]`` words: s40 (varchar 40), dt (timestamp), d (date), i (integer),
    b (bytes); ``?`` nullable."""
    kinds: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
        "dt": sa.DateTime,
        "d": sa.Date,
        "i": sa.Integer,
        "b": sa.LargeBinary,
    }
    out = []
    for word in spec.split():
        name, kind = word.split(":")
        nullable = kind.endswith("?")
        kind = kind.rstrip("?")
        make = kinds.get(kind) or partial(_s, int(kind[1:]))
        out.append((name, make, nullable))
    return out


COLUMNS = {
    "record": _cols(
        "id:s40 person_id:s40 category:s40 source:s20 clinical_date:d "
        "depositor_institution_id:s80? depositor_professional_id:s40? content_type:s120 "
        "size:i digest:s64 title_sealed:b body_sealed:b? blob_name:s120? metadata_sealed:b? "
        "state:s12 created_at:dt"
    ),
    "sharingconsent": _cols(
        "id:s40 person_id:s40 institution_id:s80 kind:s20 scopes:s60 granted_at:dt "
        "expires_at:dt? revoked_at:dt? granted_by:s40"
    ),
    "crossborderauthorisation": _cols(
        "id:s40 person_id:s40 institution_id:s80 application_code_hash:s64 passcode_hash:s64 "
        "issued_at:dt usable_from:dt expires_at:dt revoked_at:dt? failed_attempts:i "
        "locked_at:dt? granted_by:s40 application_code_sealed:b? passcode_sealed:b?"
    ),
    "viewingsession": _cols(
        "id:s40 authorisation_id:s40 person_id:s40 institution_id:s80 professional_id:s40 "
        "opened_at:dt expires_at:dt"
    ),
    "radiologyauthorisation": _cols(
        "id:s40 person_id:s40 institution_id:s80 code_hash:s64 issued_at:dt expires_at:dt "
        "revoked_at:dt? used_at:dt? granted_by:s40 code_sealed:b?"
    ),
    "restrictedaccessrequest": _cols(
        "id:s40 person_id:s40 institution_id:s80 professional_id:s40 categories:s400 "
        "consent_id:s40? reason_sealed:b otp_hash:s64 requested_at:dt otp_expires_at:dt "
        "failed_attempts:i locked_at:dt? confirmed_at:dt? expires_at:dt?"
    ),
    "caregiverdelegation": _cols(
        "id:s40 person_id:s40 caregiver_id:s40 granted_at:dt expires_at:dt? revoked_at:dt?"
    ),
    "notification": _cols(
        "id:s40 person_id:s40 at:dt channel:s10 event:s40 actor_kind:s30 actor_id:s80 "
        "institution_id:s80? audit_seq:i? detail_sealed:b?"
    ),
    "radiologydeposit": _cols(
        "id:s40 authorisation_id:s40 person_id:s40 institution_id:s80 professional_id:s40 "
        "clinical_date:d state:s12 created_at:dt expires_at:dt completed_at:dt? "
        "patient_id_sealed:b?"
    ),
    "radiologyfile": _cols(
        "id:s40 deposit_id:s40 name:s120 content_type:s60 category:s40 record_id:s40 "
        "state:s12 upload_length:i? size:i created_at:dt updated_at:dt"
    ),
}
TABLES = tuple(COLUMNS)  # parents before children
RADIOLOGYFILE_PERSON = _cols("person_id:s40")


FK = tuple[tuple[str, ...], str, tuple[str, ...]]  # columns, target table, target columns


class Shape(NamedTuple):
    """One table's keys and indexes (a named tuple: Alembic loads this module outside
    ``sys.modules``, where a dataclass cannot resolve its annotations)."""

    pk: tuple[str, ...]
    uniques: tuple[tuple[str, ...], ...]
    fks: tuple[FK, ...]
    indexes: dict[str, tuple[str, ...]]


P = ("person_id",)
PI = ("person_id", "id")
TO_PERSON = (P, "person", ("id",))
TO_INSTITUTION = (("institution_id",), "institution", ("id",))
TO_PROFESSIONAL = (("professional_id",), "professional", ("id",))
TO_CAREGIVER = (("caregiver_id",), "person", ("id",))


def _ix(table: str, *names: str) -> dict[str, tuple[str, ...]]:
    return {f"ix_{table}_{name}": (name,) for name in names}


VISIBLE: dict[str, tuple[str, ...]] = {
    "ix_record_person_visible": ("person_id", "state", "clinical_date", "id")
}

OLD = {
    "record": Shape(("id",), (), (TO_PERSON,), VISIBLE),
    "sharingconsent": Shape(
        ("id",), (), (TO_INSTITUTION, TO_PERSON), _ix("sharingconsent", "person_id")
    ),
    "crossborderauthorisation": Shape(
        ("id",),
        (("application_code_hash",),),
        (TO_INSTITUTION, TO_PERSON),
        _ix("crossborderauthorisation", "person_id"),
    ),
    "viewingsession": Shape(
        ("id",),
        (),
        (
            (("authorisation_id",), "crossborderauthorisation", ("id",)),
            TO_PERSON,
            TO_PROFESSIONAL,
        ),
        _ix("viewingsession", "authorisation_id"),
    ),
    "radiologyauthorisation": Shape(
        ("id",),
        (("code_hash",),),
        (TO_INSTITUTION, TO_PERSON),
        _ix("radiologyauthorisation", "person_id"),
    ),
    "restrictedaccessrequest": Shape(
        ("id",), (), (TO_PERSON, TO_PROFESSIONAL), _ix("restrictedaccessrequest", "person_id")
    ),
    "caregiverdelegation": Shape(
        ("id",),
        (),
        (TO_CAREGIVER, TO_PERSON),
        _ix("caregiverdelegation", "caregiver_id", "person_id"),
    ),
    "notification": Shape(("id",), (), (TO_PERSON,), _ix("notification", "person_id")),
    "radiologydeposit": Shape(
        ("id",),
        (),
        ((("authorisation_id",), "radiologyauthorisation", ("id",)), TO_PERSON),
        _ix("radiologydeposit", "authorisation_id", "person_id", "state"),
    ),
    "radiologyfile": Shape(
        ("id",),
        (("deposit_id", "name"), ("record_id",)),
        ((("deposit_id",), "radiologydeposit", ("id",)),),
        _ix("radiologyfile", "deposit_id"),
    ),
}

NEW = {
    "record": Shape(PI, (), (TO_PERSON,), VISIBLE),
    "sharingconsent": Shape(
        PI, (), (TO_INSTITUTION, TO_PERSON), _ix("sharingconsent", "person_id")
    ),
    "crossborderauthorisation": Shape(
        PI,
        (("person_id", "application_code_hash"),),
        (TO_INSTITUTION, TO_PERSON),
        _ix("crossborderauthorisation", "person_id", "application_code_hash"),
    ),
    "viewingsession": Shape(
        PI,
        (),
        (
            (("person_id", "authorisation_id"), "crossborderauthorisation", PI),
            TO_PERSON,
            TO_PROFESSIONAL,
        ),
        _ix("viewingsession", "authorisation_id"),
    ),
    "radiologyauthorisation": Shape(
        PI,
        (("person_id", "code_hash"),),
        (TO_INSTITUTION, TO_PERSON),
        _ix("radiologyauthorisation", "person_id", "code_hash"),
    ),
    "restrictedaccessrequest": Shape(
        PI, (), (TO_PERSON, TO_PROFESSIONAL), _ix("restrictedaccessrequest", "person_id")
    ),
    "caregiverdelegation": Shape(
        PI, (), (TO_CAREGIVER, TO_PERSON), _ix("caregiverdelegation", "caregiver_id", "person_id")
    ),
    "notification": Shape(PI, (), (TO_PERSON,), _ix("notification", "person_id")),
    "radiologydeposit": Shape(
        PI,
        (),
        ((("person_id", "authorisation_id"), "radiologyauthorisation", PI), TO_PERSON),
        _ix("radiologydeposit", "authorisation_id", "person_id", "state"),
    ),
    "radiologyfile": Shape(
        PI,
        (("person_id", "deposit_id", "name"), ("person_id", "record_id")),
        ((("person_id", "deposit_id"), "radiologydeposit", PI), TO_PERSON),
        _ix("radiologyfile", "deposit_id"),
    ),
}
HANDLES = {"viewingsession": "viewing_session", "radiologydeposit": "radiology_deposit"}


def _columns(table: str, new: bool) -> list[tuple[str, Callable[[], Any], bool]]:
    columns = COLUMNS[table]
    if table == "radiologyfile" and new:
        columns = [columns[0], *RADIOLOGYFILE_PERSON, *columns[1:]]
    return columns


def _target(name: str) -> str:
    return name + TEMP if name in COLUMNS else name


def _create(table: str, shape: Shape, new: bool) -> None:
    """``table`` under its temporary name, its foreign keys on the temporary parents."""
    temp = table + TEMP
    op.create_table(
        temp,
        *(
            sa.Column(name, make(), nullable=nullable)
            for name, make, nullable in _columns(table, new)
        ),
        sa.PrimaryKeyConstraint(*shape.pk),
        *(sa.UniqueConstraint(*cols) for cols in shape.uniques),
        *(
            sa.ForeignKeyConstraint(list(cols), [f"{_target(to)}.{c}" for c in to_cols])
            for cols, to, to_cols in shape.fks
        ),
    )


def _copy(bind: sa.Connection, table: str, new: bool) -> None:
    names = [name for name, _, _ in _columns(table, new)]
    target = sa.table(table + TEMP, *(sa.column(n) for n in names))
    source = sa.table(table, *(sa.column(n) for n, _, _ in _columns(table, not new)))
    if table == "radiologyfile" and new:  # its person: its deposit's
        deposit = sa.table("radiologydeposit", sa.column("id"), sa.column("person_id"))
        picked = [deposit.c.person_id if n == "person_id" else source.c[n] for n in names]
        query = sa.select(*picked).select_from(
            source.join(deposit, deposit.c.id == source.c.deposit_id)
        )
    else:
        query = sa.select(*(source.c[n] for n in names))
    bind.execute(sa.insert(target).from_select(names, query))


def _rebuild(shapes: dict[str, Shape], previous: dict[str, Shape], new: bool) -> None:
    bind = op.get_bind()
    for table in TABLES:  # index names are global: free them for the new tables
        for index in previous[table].indexes:
            op.drop_index(index, table_name=table)
    for table in TABLES:
        _create(table, shapes[table], new)
        _copy(bind, table, new)
    for table in reversed(TABLES):
        op.drop_table(table)
    for table in TABLES:
        op.rename_table(table + TEMP, table)
        for index, cols in shapes[table].indexes.items():
            op.create_index(index, table, list(cols))
    if bind.dialect.name == "postgresql":
        for table in TABLES:
            _rename_constraints(bind, table)


def _pg_name(table: str, cols: Sequence[str], suffix: str) -> str:
    """The name PostgreSQL gives an unnamed constraint (cut as PostgreSQL cuts it)."""
    stem = "_".join([table, *cols])
    return f"{stem[: PG_NAME_LIMIT - len(suffix) - 1]}_{suffix}"


def _rename_constraints(bind: sa.Connection, table: str) -> None:
    """Name ``table``'s constraints as if it had been created under its own name."""
    inspector = sa.inspect(bind)
    wanted: list[tuple[str | None, str]] = [
        (inspector.get_pk_constraint(table)["name"], f"{table}_pkey")
    ]
    wanted += [
        (u["name"], _pg_name(table, u["column_names"], "key"))
        for u in inspector.get_unique_constraints(table)
    ]
    wanted += [
        (f["name"], _pg_name(table, f["constrained_columns"], "fkey"))
        for f in inspector.get_foreign_keys(table)
    ]
    for old, name in wanted:
        if old and old != name:
            op.execute(sa.text(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{old}" TO "{name}"'))


def upgrade() -> None:
    _rebuild(NEW, OLD, new=True)
    handles = op.create_table(
        "handle",
        sa.Column("id", _s(40), nullable=False),
        sa.Column("person_id", _s(40), nullable=False),
        sa.Column("kind", _s(20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    assert handles is not None
    bind = op.get_bind()
    for table, kind in HANDLES.items():
        source = sa.table(table, sa.column("id"), sa.column("person_id"))
        query = sa.select(source.c.id, source.c.person_id, sa.literal(kind))
        bind.execute(sa.insert(handles).from_select(["id", "person_id", "kind"], query))


def downgrade() -> None:
    op.drop_table("handle")
    _rebuild(OLD, NEW, new=False)
