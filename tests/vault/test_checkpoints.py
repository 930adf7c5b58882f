"""Signed checkpoints over every chain's head, and ``verify_audit`` naming what an insider
did to the database after a checkpoint covered it: a truncated tail, a rewritten (forked)
chain, a forged, removed or rolled-back checkpoint."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from tests.vault.conftest import NOW
from tests.vault.test_audit import append_many
from vault.audit import checkpoints
from vault.audit.checkpoints import (
    CheckpointBusy,
    Leaf,
    leaves_at,
    make_checkpoint,
    sign,
    signed_text,
    tree_of,
)
from vault.audit.merkle import included, leaf_hash
from vault.audit.proofs import prove
from vault.audit.schedule import Checkpointer
from vault.audit.verify import AuditReport, public_keys, verify_audit
from vault.core.errors import KeyringError
from vault.runtime.opening import Vault
from vault.store.audit import entries_of, entry_hash
from vault.store.engine import transaction
from vault.store.tables import AuditChain, AuditCheckpoint, AuditCheckpointLeaf, AuditEntry


def checkpoint(vault: Vault, minutes: int = 0) -> AuditCheckpoint | None:
    return make_checkpoint(vault.engine, vault.keyring, NOW + timedelta(minutes=minutes))


def verify(vault: Vault) -> AuditReport:
    with Session(vault.engine) as session:
        return verify_audit(session, public_keys(vault.keyring))


def test_a_checkpoint_covers_every_chain_and_only_changes_make_a_new_one(vault: Vault) -> None:
    append_many(vault, 3, "p")
    append_many(vault, 2, "q")
    first = checkpoint(vault)
    assert first is not None and (first.number, first.tree_size) == (1, 2)
    assert checkpoint(vault, 1) is None  # nothing changed
    append_many(vault, 1, "q")
    second = checkpoint(vault, 2)
    assert second is not None and second.prev_root_hash == first.root_hash
    with Session(vault.engine) as session:
        stored = session.exec(select(AuditCheckpointLeaf.number, AuditCheckpointLeaf.chain_id))
        assert sorted(stored.all()) == [(1, "p"), (1, "q"), (2, "q")]  # only what changed
        assert [leaf.length for leaf in leaves_at(session, 2)] == [3, 3]
    report = verify(vault)
    assert report.valid and report.checkpoints == 2, report.describe()


def test_a_proof_verifies_with_the_public_key_alone(vault: Vault) -> None:
    append_many(vault, 4, "p")
    append_many(vault, 4, "q")
    made = checkpoint(vault)
    append_many(vault, 2, "p")  # the chain has grown since
    with Session(vault.engine) as session:
        proof = prove(session, "p")
    assert proof.inclusion is not None and proof.length == 6
    found = proof.inclusion
    assert found.leaf == Leaf("p", 4, found.leaf.head_hash)
    leaf = leaf_hash(checkpoints.leaf_bytes(found.leaf))
    path = [bytes.fromhex(h) for h in found.path]
    assert made is not None
    assert included(found.leaf_index, made.tree_size, leaf, path, bytes.fromhex(made.root_hash))
    public = vault.keyring.checkpoint_key().private_key.public_key()  # type: ignore[union-attr]
    assert checkpoints.signature_valid(public, signed_text(made), made.signature)
    assert not checkpoints.signature_valid(
        public, signed_text(replace_root(made, "00" * 32)), made.signature
    )


def replace_root(row: AuditCheckpoint, root: str) -> AuditCheckpoint:
    return AuditCheckpoint(**{**row.model_dump(), "root_hash": root})


def test_a_tail_truncated_after_a_checkpoint_is_named(vault: Vault) -> None:
    append_many(vault, 6, "p")
    checkpoint(vault)
    with transaction(vault.engine) as session:  # cut the tail and make the head agree
        session.execute(delete(AuditEntry).where(col(AuditEntry.seq) > 4))
        kept = session.get(AuditEntry, ("p", 4))
        assert kept is not None
        session.execute(update(AuditChain).values(length=4, head_hash=kept.entry_hash))
    report = verify(vault)
    assert report.chains.valid  # every entry left links: only the checkpoint can tell
    assert not report.valid and report.bad_checkpoint == 1
    assert "tail truncated" in (report.checkpoint_problem or "")


def test_a_chain_rewritten_after_a_checkpoint_is_named(vault: Vault) -> None:
    append_many(vault, 5, "p")
    checkpoint(vault)
    _rewrite_from(vault, "p", 3)
    report = verify(vault)
    assert report.chains.valid and not report.valid
    assert "holds another entry 5" in (report.checkpoint_problem or "")


def _rewrite_from(vault: Vault, chain: str, seq: int) -> None:
    """Edit entry ``seq`` and re-hash it and every entry after, and the head: a fork."""
    with transaction(vault.engine) as session:
        entries = list(entries_of(session, chain))
        prev = entries[seq - 2].entry_hash if seq > 1 else "0" * 64
        for entry in entries[seq - 1 :]:
            if entry.seq == seq:
                entry.reason = "owner-rewritten"
            entry.prev_hash = prev
            entry.entry_hash = entry_hash(entry)
            prev = entry.entry_hash
            session.add(entry)
        session.execute(update(AuditChain).values(head_hash=prev))


def test_a_forged_checkpoint_is_named(vault: Vault) -> None:
    append_many(vault, 2, "p")
    checkpoint(vault)
    with transaction(vault.engine) as session:
        session.execute(update(AuditCheckpoint).values(root_hash="ab" * 32))
    report = verify(vault)
    assert not report.valid and report.bad_checkpoint == 1
    assert "signature does not verify" in (report.checkpoint_problem or "")


def test_a_removed_checkpoint_is_named(vault: Vault) -> None:
    for minute in range(3):
        append_many(vault, 1, "p")
        checkpoint(vault, minute)
    with transaction(vault.engine) as session:
        session.execute(delete(AuditCheckpoint).where(col(AuditCheckpoint.number) == 2))
    report = verify(vault)
    assert not report.valid and report.bad_checkpoint == 2
    assert "missing" in (report.checkpoint_problem or "")


def test_a_rolled_back_checkpoint_is_named_even_when_signed(vault: Vault) -> None:
    """The signer itself (a stolen key) publishing a checkpoint where a chain is shorter
    than before: consistency with the one before is checked, not only signatures."""
    append_many(vault, 3, "p")
    first = checkpoint(vault)
    assert first is not None
    rolled = Leaf("p", 2, _hash_at(vault, "p", 2))
    tree = tree_of([rolled])
    key = vault.keyring.checkpoint_key()
    assert key is not None
    row = AuditCheckpoint(
        number=2,
        made_at=NOW + timedelta(minutes=5),
        tree_size=1,
        root_hash=tree.root().hex(),
        prev_root_hash=first.root_hash,
        kid=key.kid,
        signature="",
    )
    row.signature = sign(key, signed_text(row))
    with transaction(vault.engine) as session:
        session.add(row)
        session.add(
            AuditCheckpointLeaf(chain_id="p", number=2, length=2, head_hash=rolled.head_hash)
        )
    report = verify(vault)
    assert not report.valid and report.bad_checkpoint == 2
    assert "shrank" in (report.checkpoint_problem or "")


def _hash_at(vault: Vault, chain: str, seq: int) -> str:
    with Session(vault.engine) as session:
        entry = session.get(AuditEntry, (chain, seq))
        assert entry is not None
        return entry.entry_hash


def test_a_checkpoint_made_at_the_same_moment_loses_cleanly(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_many(vault, 2, "p")
    checkpoint(vault)
    append_many(vault, 1, "p")
    # a maker that read the heads just before checkpoint 1 was stored computes number 1
    monkeypatch.setattr(checkpoints, "latest", lambda session: None)
    with pytest.raises(CheckpointBusy):  # number 1 is taken: that one stands
        checkpoint(vault, 1)
    with Session(vault.engine) as session:
        assert len(session.exec(select(AuditCheckpointLeaf)).all()) == 1  # nothing half-written
    assert verify(vault).valid


def test_verifying_without_the_checkpoint_key_is_a_keyring_error(vault: Vault) -> None:
    append_many(vault, 1, "p")
    checkpoint(vault)
    with Session(vault.engine) as session, pytest.raises(KeyringError):
        verify_audit(session, {})


def test_the_scheduled_maker_checkpoints_what_changed_and_stops(vault: Vault) -> None:
    append_many(vault, 2, "p")
    maker = Checkpointer(vault, 0.05)
    maker.start()
    try:
        for _ in range(200):  # up to 10 s on a loaded machine
            with Session(vault.engine) as session:
                if session.exec(select(AuditCheckpoint)).first() is not None:
                    break
            time.sleep(0.05)
    finally:
        maker.stop()
    with Session(vault.engine) as session:
        made = session.exec(select(AuditCheckpoint)).all()
    assert len(made) == 1 and made[0].tree_size == 1  # nothing changed after the first
    assert not maker._thread.is_alive()


def test_no_scheduled_maker_runs_at_zero_seconds(vault: Vault) -> None:
    append_many(vault, 1, "p")
    maker = Checkpointer(vault, 0)
    maker.start()
    maker.stop()
    assert not maker._thread.is_alive()
    with Session(vault.engine) as session:
        assert session.exec(select(AuditCheckpoint)).first() is None
