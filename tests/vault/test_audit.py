"""The audit chain: appends link, and any edit, deletion or reordering is named."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col

from tests.vault.conftest import NOW
from vault.runtime.opening import Vault
from vault.store.audit import AuditEvent, append, verify_chain
from vault.store.engine import transaction
from vault.store.tables import AuditEntry


def _append_many(vault: Vault, n: int) -> None:
    for i in range(n):
        with transaction(vault.engine) as session:
            append(
                session,
                AuditEvent("citizen", f"p{i}", "read_record", i % 3 != 0, "owner", person_id="p"),
                at=NOW + timedelta(seconds=i),
            )


def _verify(vault: Vault):  # type: ignore[no-untyped-def]
    with Session(vault.engine) as session:
        return verify_chain(session)


def test_an_intact_chain_verifies(vault: Vault) -> None:
    _append_many(vault, 12)
    report = _verify(vault)
    assert report.valid and report.entries == 12


def test_an_edited_entry_is_named(vault: Vault) -> None:
    _append_many(vault, 8)
    with transaction(vault.engine) as session:
        session.execute(
            update(AuditEntry).where(col(AuditEntry.seq) == 5).values(allowed=True, reason="x")
        )
    report = _verify(vault)
    assert not report.valid and report.first_bad_seq == 5
    assert "edited" in (report.problem or "")


def test_a_deleted_entry_is_named(vault: Vault) -> None:
    _append_many(vault, 8)
    with transaction(vault.engine) as session:
        session.execute(delete(AuditEntry).where(col(AuditEntry.seq) == 3))
    report = _verify(vault)
    assert not report.valid and report.first_bad_seq == 3


def test_a_deleted_tail_is_detected(vault: Vault) -> None:
    _append_many(vault, 8)
    with transaction(vault.engine) as session:
        session.execute(delete(AuditEntry).where(col(AuditEntry.seq) == 8))
    report = _verify(vault)
    assert not report.valid and report.first_bad_seq == 8


def test_swapped_entries_are_detected(vault: Vault) -> None:
    _append_many(vault, 6)
    with transaction(vault.engine) as session:
        a = session.get(AuditEntry, 2)
        b = session.get(AuditEntry, 3)
        assert a is not None and b is not None
        fields = ("actor_id", "allowed", "reason", "at", "prev_hash", "entry_hash")
        va = {f: getattr(a, f) for f in fields}
        vb = {f: getattr(b, f) for f in fields}
        session.execute(update(AuditEntry).where(col(AuditEntry.seq) == 2).values(vb))
        session.execute(update(AuditEntry).where(col(AuditEntry.seq) == 3).values(va))
    report = _verify(vault)
    assert not report.valid and report.first_bad_seq == 2
