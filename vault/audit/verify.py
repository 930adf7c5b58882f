"""``crossvault audit verify``: every chain entry by entry, then every checkpoint.

A checkpoint is checked for its number (none missing), its link to the one before
(``prev_root_hash``), its signature (ES256, by the key its ``kid`` names), and its root
(recomputed from its leaves). Each of its leaves is checked against the live chain: the
entry at the leaf's length must be there with the leaf's head hash — so a chain that was
forked (an entry replaced and everything after re-hashed), or truncated after a
checkpoint covered it, is named even when its head row was rewritten to match — and no
chain is shorter than in the checkpoint before (a rolled-back checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, col, select

from vault.audit.checkpoints import Leaf, leaves_at, signature_valid, signed_text, tree_of
from vault.core.errors import KeyringError
from vault.keys.keyring import LocalKeyring
from vault.store.audit import GENESIS_HASH, ChainReport, chain_label, verify_chains
from vault.store.tables import AuditCheckpoint, AuditCheckpointLeaf, AuditEntry


@dataclass(frozen=True)
class AuditReport:
    """The whole log's verification: the chains' report and the checkpoints'."""

    chains: ChainReport
    checkpoints: int = 0
    bad_checkpoint: int | None = None
    checkpoint_problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.chains.valid and self.checkpoint_problem is None

    def describe(self) -> str:
        if not self.chains.valid:
            return self.chains.describe()
        if self.checkpoint_problem is not None:
            return f"audit checkpoint {self.bad_checkpoint} BROKEN: {self.checkpoint_problem}"
        return f"{self.chains.describe()}; {self.checkpoints} checkpoints valid"


def public_keys(keyring: LocalKeyring) -> dict[str, ec.EllipticCurvePublicKey]:
    key = keyring.checkpoint_key()
    return {} if key is None else {key.kid: key.private_key.public_key()}


def verify_audit(session: Session, keys: Mapping[str, ec.EllipticCurvePublicKey]) -> AuditReport:
    """Verify the chains, then the checkpoints; the first problem found is named.
    Raises :class:`KeyringError` when a checkpoint's key is not at hand (then nothing
    can be said of its signature: not a verdict of tampering)."""
    chains = verify_chains(session)
    if not chains.valid:
        return AuditReport(chains)
    count = 0
    for number, problem in _checkpoint_problems(session, keys):
        if problem is not None:
            return AuditReport(chains, count, number, problem)
        count += 1
    return AuditReport(chains, count)


def _checkpoint_problems(
    session: Session, keys: Mapping[str, ec.EllipticCurvePublicKey]
) -> Iterator[tuple[int, str | None]]:
    prev_root, expected, previous = GENESIS_HASH, 1, dict[str, Leaf]()
    rows = session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.number))).all()
    for row in rows:
        if row.number != expected:
            yield expected, f"is missing (found {row.number} next): deleted or rolled back"
            return
        leaves = leaves_at(session, row.number)
        problem = _signed_problem(row, keys, prev_root) or _tree_problem(row, leaves)
        problem = problem or _growth_problem(session, row.number, leaves, previous)
        yield row.number, problem
        if problem is not None:
            return
        prev_root, expected = row.root_hash, expected + 1
        previous = {leaf.chain_id: leaf for leaf in leaves}


def _signed_problem(
    row: AuditCheckpoint, keys: Mapping[str, ec.EllipticCurvePublicKey], prev_root: str
) -> str | None:
    key = keys.get(row.kid)
    if key is None:
        raise KeyringError(
            f"checkpoint {row.number} is signed with key {row.kid}, which this keyring "
            "does not hold: verify with the keyring that signed it"
        )
    if not signature_valid(key, signed_text(row), row.signature):
        return "its signature does not verify (forged or edited)"
    if row.prev_root_hash != prev_root:
        return "does not follow the checkpoint before it (rolled back or replaced)"
    return None


def _tree_problem(row: AuditCheckpoint, leaves: list[Leaf]) -> str | None:
    tree = tree_of(leaves)
    if tree.size != row.tree_size or tree.root().hex() != row.root_hash:
        return "its leaves do not give its signed root (a chain's leaf edited or removed)"
    return None


def _growth_problem(
    session: Session, number: int, leaves: list[Leaf], previous: dict[str, Leaf]
) -> str | None:
    """Every chain at least as long as in the checkpoint before, and the live chain
    holds, at each changed leaf's length, the entry with the leaf's head hash."""
    for leaf in leaves:
        before = previous.get(leaf.chain_id)
        if before is not None and leaf.length < before.length:
            return f"the chain {chain_label(leaf.chain_id)} shrank (rolled back)"
    for chain_id, length, head_hash in _changed(session, number):
        found = session.get(AuditEntry, (chain_id, length))
        if found is None:
            return (
                f"the chain {chain_label(chain_id)} ends before entry {length}, which this "
                "checkpoint covered (tail truncated)"
            )
        if found.entry_hash != head_hash:
            return (
                f"the chain {chain_label(chain_id)} holds another entry {length} than this "
                "checkpoint covered (the chain was rewritten)"
            )
    return None


def _changed(session: Session, number: int) -> list[tuple[str, int, str]]:
    rows = session.exec(
        select(
            AuditCheckpointLeaf.chain_id, AuditCheckpointLeaf.length, AuditCheckpointLeaf.head_hash
        ).where(col(AuditCheckpointLeaf.number) == number)
    ).all()
    return [(c, n, h) for c, n, h in rows]
