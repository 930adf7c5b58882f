"""A person's proof that their chain is in the latest checkpoint.

:func:`prove` gives the chain's current head, and — once a checkpoint covers the chain —
the checkpoint (signed), the chain's leaf in it and the RFC 9162 inclusion path. With the
JWKS public key alone anyone can then check, offline (``docs/audit.md``,
``crossvault audit prove``): the signature over the checkpoint, the leaf's inclusion in its
root, and that the chain they were shown extends the leaf (its entry at the leaf's length
has the leaf's head hash).

The latest checkpoint's tree is built once per process and kept (one tree: ``O(chains)``
hashes, 64 bytes a chain), so each proof costs ``O(log² n)`` hashes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlmodel import Session

from vault.audit.checkpoints import Leaf, latest, leaves_at, tree_of
from vault.audit.merkle import Tree
from vault.store.audit import GENESIS_HASH
from vault.store.tables import AuditChain, AuditCheckpoint


@dataclass(frozen=True)
class Inclusion:
    checkpoint: AuditCheckpoint
    leaf_index: int
    leaf: Leaf
    path: list[str]  # hex, from the leaf up


@dataclass(frozen=True)
class ChainProof:
    chain_id: str
    length: int
    head_hash: str
    inclusion: Inclusion | None  # None until a checkpoint covers the chain


class _LatestTree:
    """The latest checkpoint's leaves and tree, built once per checkpoint number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._number = 0
        self._leaves: list[Leaf] = []
        self._index: dict[str, int] = {}
        self._tree = Tree([])

    def get(self, session: Session, number: int) -> tuple[list[Leaf], dict[str, int], Tree]:
        with self._lock:
            if number != self._number:
                leaves = leaves_at(session, number)
                self._leaves, self._tree = leaves, tree_of(leaves)
                self._index = {leaf.chain_id: i for i, leaf in enumerate(leaves)}
                self._number = number
            return self._leaves, self._index, self._tree


_TREE = _LatestTree()


def prove(session: Session, chain_id: str) -> ChainProof:
    """The chain's head now and its inclusion in the latest checkpoint (if covered)."""
    head = session.get(AuditChain, chain_id)
    length, head_hash = (head.length, head.head_hash) if head else (0, GENESIS_HASH)
    checkpoint = latest(session)
    if checkpoint is None:
        return ChainProof(chain_id, length, head_hash, None)
    leaves, index, tree = _TREE.get(session, checkpoint.number)
    at = index.get(chain_id)
    if at is None:
        return ChainProof(chain_id, length, head_hash, None)
    path = [h.hex() for h in tree.path(at)]
    return ChainProof(chain_id, length, head_hash, Inclusion(checkpoint, at, leaves[at], path))
