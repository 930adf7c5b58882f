"""The migrated schema is ready to be distributed by person (docs/scale-out.md): every
table is classified once in ``vault/store/distribution.py``; each table distributed by
person has its person first in its primary key, in every unique constraint and index, and
in every foreign key to another such table; reference tables hold no person; and the
Citus DDL of the documentation is the one the classification prints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Inspector

from vault.store.distribution import (
    BY_OWN_KEY,
    BY_PERSON,
    REFERENCE,
    citus_ddl,
    classified,
    unclassified,
)
from vault.store.engine import make_engine
from vault.store.schema import model_metadata

DOC = Path(__file__).parents[2] / "docs" / "scale-out.md"


@pytest.fixture
def schema(migrated_database_url: str) -> Iterator[Inspector]:
    engine = make_engine(migrated_database_url)
    try:
        with engine.connect() as connection:
            yield inspect(connection)
    finally:
        engine.dispose()


def test_every_table_is_classified_exactly_once(schema: Inspector) -> None:
    tables = set(schema.get_table_names())
    missing = unclassified(tables)
    assert not missing, (
        f"tables not classified for distribution: {missing} — add each to BY_PERSON, "
        "REFERENCE or BY_OWN_KEY in vault/store/distribution.py (docs/scale-out.md)"
    )
    assert unclassified(set(model_metadata().tables)) == []
    classes = [set(BY_PERSON), set(REFERENCE), set(BY_OWN_KEY)]
    assert sum(len(c) for c in classes) == len(classified()), "a table in two classes"
    assert classified() <= tables, f"classified but absent: {classified() - tables}"


def _leads_with(columns: list[str], column: str) -> bool:
    return bool(columns) and columns[0] == column


def test_person_tables_lead_every_key_with_the_person(schema: Inspector) -> None:
    problems: list[str] = []
    for table, column in BY_PERSON.items():
        pk = schema.get_pk_constraint(table)["constrained_columns"]
        if not _leads_with(pk, column):
            problems.append(f"{table}: primary key {pk} does not lead with {column}")
        for unique in schema.get_unique_constraints(table):
            if column not in unique["column_names"]:
                problems.append(f"{table}: unique {unique['column_names']} lacks {column}")
        for index in schema.get_indexes(table):
            if index["unique"] and column not in index["column_names"]:
                problems.append(f"{table}: unique index {index['name']} lacks {column}")
        for fk in schema.get_foreign_keys(table):
            target = fk["referred_table"]
            if target in REFERENCE or target == "person":
                continue  # a reference table is everywhere; the person row is colocated
            pairs = dict(zip(fk["constrained_columns"], fk["referred_columns"], strict=True))
            if pairs.get(column) != BY_PERSON.get(target):
                problems.append(f"{table}: foreign key {pairs} to {target} lacks the person")
    assert not problems, "\n".join(problems)


def test_foreign_keys_to_the_person_are_the_person_column(schema: Inspector) -> None:
    """A key to ``person.id`` from a person table is its own person (colocated) — except
    a caregiver's, which Citus cannot enforce across nodes (docs/scale-out.md)."""
    across = []
    for table, column in BY_PERSON.items():
        for fk in schema.get_foreign_keys(table):
            if fk["referred_table"] == "person" and fk["constrained_columns"] != [column]:
                across.append((table, tuple(fk["constrained_columns"])))
    assert across == [("caregiverdelegation", ("caregiver_id",))]


def test_reference_and_own_key_tables_hold_no_person(schema: Inspector) -> None:
    for table in REFERENCE:
        names = {c["name"] for c in schema.get_columns(table)}
        assert "person_id" not in names, table
        assert not any(fk["referred_table"] in BY_PERSON for fk in schema.get_foreign_keys(table))
    for table, column in BY_OWN_KEY.items():
        assert column in schema.get_pk_constraint(table)["constrained_columns"], table
        assert not schema.get_foreign_keys(table), f"{table}: a key across nodes"


_DDL = re.compile(r"create_(?:distributed|reference)_table\('(\w+)'")


def test_the_documented_ddl_is_the_classification() -> None:
    doc = DOC.read_text()
    assert citus_ddl() in doc, "docs/scale-out.md's DDL differs from citus_ddl(): paste it"
    named = _DDL.findall(doc)
    assert sorted(named) == sorted(classified()), "each table exactly once in the DDL"
    assert len(named) == len(set(named))
    distributed = re.findall(r"create_distributed_table\('(\w+)', '(\w+)'", doc)
    assert dict(distributed) == {**BY_PERSON, **BY_OWN_KEY}
