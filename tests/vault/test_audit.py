"""The audit chains: one per person (and a system chain), each entry linked to the one
before *in its chain*; any edit, deletion, insertion or reordering is named by chain and
position. The database is tampered with directly, as an insider would."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from tests.vault.conftest import NOW
from vault.runtime.opening import Vault
from vault.store.audit import (
    SYSTEM,
    AuditEvent,
    ChainReport,
    append,
    chain_of,
    entry_hash,
    verify_chains,
)
from vault.store.engine import transaction
from vault.store.tables import AuditChain, AuditEntry


def append_many(vault: Vault, n: int, person: str | None = "p") -> None:
    for i in range(n):
        with transaction(vault.engine) as session:
            event = AuditEvent(
                "citizen", f"a{i}", "read_record", i % 3 != 0, "owner", person_id=person
            )
            append(session, event, at=NOW + timedelta(seconds=i))


def verify(vault: Vault) -> ChainReport:
    with Session(vault.engine) as session:
        return verify_chains(session)


def _edit(vault: Vault, chain: str, seq: int, **values: object) -> None:
    with transaction(vault.engine) as session:
        session.execute(
            update(AuditEntry)
            .where(col(AuditEntry.chain_id) == chain, col(AuditEntry.seq) == seq)
            .values(**values)
        )


def test_each_person_has_a_chain_of_their_own(vault: Vault) -> None:
    append_many(vault, 5, "p")
    append_many(vault, 3, "q")
    append_many(vault, 2, None)
    with Session(vault.engine) as session:
        heads = {c.chain_id: c.length for c in session.exec(select(AuditChain)).all()}
    assert heads == {"p": 5, "q": 3, SYSTEM: 2}
    report = verify(vault)
    assert report.valid and report.entries == 10 and report.chains == 3, report.describe()


def test_an_institutions_own_events_extend_its_chain() -> None:
    assert chain_of(None, "ha") == "~i:ha"
    assert chain_of("p", "ha") == "p"
    assert chain_of(None) == SYSTEM


def test_an_edited_entry_is_named_by_chain_and_position(vault: Vault) -> None:
    append_many(vault, 4, "q")
    append_many(vault, 8, "p")
    _edit(vault, "p", 5, allowed=True, reason="x")
    report = verify(vault)
    assert (report.valid, report.first_bad_chain, report.first_bad_seq) == (False, "p", 5)
    assert "edited" in (report.problem or "")
    assert "of person p BROKEN at entry 5" in report.describe()


def test_a_deleted_entry_is_named(vault: Vault) -> None:
    append_many(vault, 8)
    with transaction(vault.engine) as session:
        session.execute(delete(AuditEntry).where(col(AuditEntry.seq) == 3))
    report = verify(vault)
    assert not report.valid and (report.first_bad_chain, report.first_bad_seq) == ("p", 3)


def test_a_deleted_tail_is_named_by_the_head(vault: Vault) -> None:
    append_many(vault, 8)
    with transaction(vault.engine) as session:
        session.execute(delete(AuditEntry).where(col(AuditEntry.seq) >= 7))
    report = verify(vault)
    assert not report.valid and report.first_bad_seq == 7
    assert "truncated" in (report.problem or "")


def test_an_inserted_entry_is_named(vault: Vault) -> None:
    append_many(vault, 4)
    with transaction(vault.engine) as session:
        forged: dict[str, Any] = {
            "chain_id": "p",
            "seq": 5,
            "at": NOW + timedelta(hours=1),
            "actor_kind": "citizen",
            "actor_id": "x",
            "institution_id": None,
            "on_behalf_of": None,
            "person_id": "p",
            "action": "read_record",
            "resource_id": None,
            "allowed": True,
            "reason": "owner",
            "consent_id": None,
            "request_id": None,
            "prev_hash": session.get(AuditChain, "p").head_hash,  # type: ignore[union-attr]
        }
        session.add(AuditEntry(**forged, entry_hash=entry_hash(forged)))
    report = verify(vault)
    assert not report.valid and (report.first_bad_chain, report.first_bad_seq) == ("p", 5)
    assert "written around the head" in (report.problem or "")


def test_swapped_entries_are_named(vault: Vault) -> None:
    append_many(vault, 6)
    with transaction(vault.engine) as session:
        a, b = session.get(AuditEntry, ("p", 2)), session.get(AuditEntry, ("p", 3))
        assert a is not None and b is not None
        fields = ("actor_id", "allowed", "reason", "at", "prev_hash", "entry_hash")
        va, vb = ({f: getattr(e, f) for f in fields} for e in (a, b))
    _edit(vault, "p", 2, **vb)
    _edit(vault, "p", 3, **va)
    report = verify(vault)
    assert not report.valid and report.first_bad_seq == 2


def test_an_entry_moved_to_another_persons_chain_is_named(vault: Vault) -> None:
    append_many(vault, 3, "p")
    _edit(vault, "p", 2, person_id="q")
    report = verify(vault)
    assert not report.valid and report.first_bad_seq == 2
    assert "another person" in (report.problem or "")


def test_a_deleted_head_row_is_named(vault: Vault) -> None:
    append_many(vault, 3, "p")
    with transaction(vault.engine) as session:
        session.execute(delete(AuditChain).where(col(AuditChain.chain_id) == "p"))
    report = verify(vault)
    assert not report.valid and report.first_bad_chain == "p"
    assert "head row is missing" in (report.problem or "")


def test_writers_starting_the_same_new_chain_at_once_all_append(vault: Vault) -> None:
    """The first decisions about a person, at the same moment: one starts the chain, the
    others wait for its head row and follow (on PostgreSQL the losers' INSERT meets the
    winner's key; that must not be an error)."""
    failures: list[BaseException] = []
    ready = threading.Barrier(8)

    def first_decision(i: int) -> None:
        try:
            ready.wait()
            with transaction(vault.engine) as session:
                event = AuditEvent(
                    "citizen", f"a{i}", "read_record", True, "owner", person_id="new"
                )
                append(session, event, at=NOW + timedelta(seconds=i))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=first_decision, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    report = verify(vault)
    assert report.valid and report.entries == 8, report.describe()
