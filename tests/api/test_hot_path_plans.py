"""The hot paths read per-person tables through their ``(person_id, ...)`` indexes, never by
sequential scan (PostgreSQL only): every statement a cross-border session's record list
and the owner's own list run is captured over real HTTP, on a database seeded with
thousands of other people's records and ``ANALYZE``d, then ``EXPLAIN``ed.

Two checks per statement: with the planner free, no sequential scan of ``record`` (the
table with volume); and with ``enable_seqscan = off``, no sequential scan of any
per-person table (a table with a ``person_id`` column, or ``person``). The second catches
a missing index even on tables too small here for the planner to prefer one: without a
usable index PostgreSQL falls back to a sequential scan whatever the setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlmodel import SQLModel

from tests.api.conftest import World
from tests.support.databases import DatabaseKind
from vault.seeding.bulk import SeedPlan, seed
from vault.store.statements import Prepared

RECORDS = 50


@pytest.fixture(autouse=True)
def _postgresql_only(db_kind: DatabaseKind) -> None:
    if db_kind != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")


def _per_person_tables() -> set[str]:
    tables = {t.name for t in SQLModel.metadata.sorted_tables if "person_id" in t.columns}
    return tables | {"person"}


@contextmanager
def _captured(world: World) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT the server runs meanwhile: through SQLAlchemy (its cursor event) and
    through :class:`Prepared` (the hot path's statements, run on the driver's cursor:
    observed by wrapping ``_execute``, which still runs them)."""
    statements: list[tuple[str, Any]] = []

    def note(statement: str, parameters: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        note(statement, parameters)

    original = Prepared._execute

    def observed(self: Prepared, session: Any, values: Any) -> Any:
        compiled, cursor = original(self, session, values)
        note(compiled.sql, compiled.parameters(values))
        return compiled, cursor

    event.listen(world.vault.engine, "before_cursor_execute", capture)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Prepared, "_execute", observed)
            yield statements
    finally:
        event.remove(world.vault.engine, "before_cursor_execute", capture)


def _plan(world: World, statement: str, parameters: Any, *, seqscan: bool) -> str:
    with world.vault.engine.connect() as connection:
        connection.execute(text(f"SET enable_seqscan = {'on' if seqscan else 'off'}"))
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        connection.rollback()
        return plan


def _session_and_owner(world: World) -> tuple[str, dict[str, str], dict[str, str]]:
    """A person with 50 deposited records and a cross-border session on them: (the
    session's list URL, the viewer's headers, the owner's headers)."""
    pid, me = world.person()
    doctor = world.professional("ha")
    for day in range(RECORDS):
        world.deposit(pid, doctor, clinical_date=f"2025-{1 + day % 12:02d}-{1 + day % 28:02d}")
    codes = world.http.post(
        "/v1/me/cross-border-authorisations", headers=me, json={"institution_id": "hku_sz"}
    ).json()
    viewer = world.professional("hku_sz")
    opened = world.http.post(
        "/v1/cross-border/sessions",
        headers=viewer,
        json={"application_code": codes["application_code"], "passcode": codes["passcode"]},
    )
    assert opened.status_code == 201, opened.text
    url = f"/v1/cross-border/sessions/{opened.json()['session_id']}/records?limit={RECORDS}"
    return url, viewer, me


def test_the_session_and_owner_lists_use_person_indexes(world: World) -> None:
    url, viewer, me = _session_and_owner(world)
    seed(world.vault, SeedPlan(persons=3000, records_per_person=10, seed=5, add=True))
    with world.vault.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    with _captured(world) as statements:
        session_list = world.http.get(url, headers=viewer)
        owner_list = world.http.get(f"/v1/me/records?limit={RECORDS}", headers=me)
    assert session_list.status_code == 200 and len(session_list.json()["items"]) == RECORDS
    assert owner_list.status_code == 200 and len(owner_list.json()["items"]) == RECORDS
    tables = _per_person_tables()
    names = "|".join(sorted(tables))
    reads = re.compile(rf"\b(?:FROM|JOIN) (?:{names})\b")
    touched = [(s, p) for s, p in statements if reads.search(s)]
    assert any("FROM record" in s for s, _ in touched), "the record lists were not captured"
    unserved: set[str] = set()
    for statement, parameters in touched:
        free = _plan(world, statement, parameters, seqscan=True)
        assert "Seq Scan on record" not in free, f"{statement}\n{free}"
        forced = _plan(world, statement, parameters, seqscan=False)
        unserved |= {t for t in tables if f"Seq Scan on {t} " in forced}
    # This test found viewingsession without an index on person_id (its facts are loaded
    # by person); the person keys (revision 0006) lead every per-person key with it.
    assert not unserved, unserved
