"""Revision 0005 carries a populated database's one global chain over into per-person
chains: it verifies the old chain first and refuses, naming the broken entry and touching
nothing, when it does not verify."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, select

from tests.vault.conftest import NOW, make_person, run_alembic
from vault.runtime.opening import Vault
from vault.store.audit import AuditEvent, append, verify_chains
from vault.store.engine import make_engine, transaction
from vault.store.schema import head_revision
from vault.store.tables import AuditChain, AuditEntry


@pytest.fixture
def engine(vault: Vault, migrated_database_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_database_url)
    yield engine
    engine.dispose()


def _populate(vault: Vault) -> dict[str, int]:
    """Interleaved decisions about two people, an institution and nobody."""
    people = [make_person(vault, "Chan Tai Man"), make_person(vault, "Wong Siu Ming")]
    for i in range(30):
        person = people[i % 2] if i % 5 else None
        event = AuditEvent(
            "hk_professional", f"doc{i % 3}", "read_record", i % 4 != 0, "sharing_consent",
            person_id=person, institution_id="ha" if i % 10 == 0 else None,
        )  # fmt: skip
        with transaction(vault.engine) as session:
            append(session, event, at=NOW + timedelta(seconds=i))
    with Session(vault.engine) as session:
        return {c.chain_id: c.length for c in session.exec(select(AuditChain)).all()}


def _revision(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())


def test_a_populated_global_chain_becomes_per_person_chains_that_verify(
    vault: Vault, engine: Engine
) -> None:
    lengths = _populate(vault)
    assert len(lengths) >= 3 and sum(lengths.values()) >= 30
    run_alembic(engine, "downgrade", "0004")  # back to one global chain (as 0004 wrote it)
    assert "auditchain" not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM auditentry")).scalar()
    assert total == sum(lengths.values())
    run_alembic(engine, "upgrade", "head")
    assert _revision(engine) == head_revision()
    with Session(engine) as session:
        report = verify_chains(session)
        after = {c.chain_id: c.length for c in session.exec(select(AuditChain)).all()}
        people = session.exec(select(AuditEntry).where(AuditEntry.chain_id != "")).all()
    assert report.valid and report.entries == total, report.describe()
    assert after == lengths
    assert all(e.person_id in (None, e.chain_id) for e in people)


def test_a_global_chain_that_does_not_verify_is_refused_untouched(
    vault: Vault, engine: Engine
) -> None:
    _populate(vault)
    run_alembic(engine, "downgrade", "0004")
    with engine.begin() as connection:
        connection.execute(text("UPDATE auditentry SET reason = 'owner' WHERE seq = 7"))
    with pytest.raises(Exception, match="does not verify at entry 7: contents were edited"):
        run_alembic(engine, "upgrade", "head")
    assert _revision(engine) == "0004"
    tables = set(inspect(engine).get_table_names())
    assert "audithead" in tables and "auditchain" not in tables
    assert "auditentry_chained" not in tables
