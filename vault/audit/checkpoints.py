"""Signed checkpoints over every audit chain (in the manner of RFC 9162's signed tree heads).

A checkpoint numbered ``n`` commits to every chain's ``(chain id, length, head hash)`` at
one moment: the leaves, sorted by chain id, each :func:`leaf_bytes`, are the leaves of an
RFC 9162 Merkle tree (:mod:`vault.audit.merkle`) whose root is signed ES256 with the
keyring's checkpoint key — over :func:`signed_text`, which also names the checkpoint
before it (``prev_root_hash``), so checkpoints form a chain of their own.

Only the chains that changed since the checkpoint before are stored with a checkpoint
(:class:`~vault.store.tables.AuditCheckpointLeaf`); a checkpoint's leaf set is each
chain's row of the highest number up to it. Making one reads the chains' heads in one
snapshot and locks nothing appenders use: a concurrent maker loses the race on the
checkpoint's number and is told so (:class:`CheckpointBusy`); nothing is half-written.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from vault.audit.merkle import Tree, leaf_hash
from vault.core.errors import KeyringError, VaultError
from vault.keys.keyring import LocalKeyring
from vault.keys.keyring_document import SigningKey
from vault.store.audit import GENESIS_HASH
from vault.store.engine import reading, transaction
from vault.store.tables import AuditChain, AuditCheckpoint, AuditCheckpointLeaf

SIGNED_FORMAT = "crossvault audit checkpoint v1"


class CheckpointBusy(VaultError):
    """Another checkpoint was being made at the same moment; that one stands."""

    code = "checkpoint_busy"

    def __init__(self) -> None:
        super().__init__("another checkpoint was made at the same moment; try again")


@dataclass(frozen=True, order=True)
class Leaf:
    """One chain as a checkpoint saw it."""

    chain_id: str
    length: int
    head_hash: str


def leaf_bytes(leaf: Leaf) -> bytes:
    """A leaf's data: ``len(chain id)`` (2 bytes) ‖ chain id (UTF-8) ‖ length (8 bytes) ‖
    head hash (32 bytes), all big-endian — self-delimiting, so no two leaves coincide."""
    chain = leaf.chain_id.encode()
    return (
        len(chain).to_bytes(2, "big")
        + chain
        + leaf.length.to_bytes(8, "big")
        + bytes.fromhex(leaf.head_hash)
    )


def tree_of(leaves: Sequence[Leaf]) -> Tree:
    return Tree([leaf_hash(leaf_bytes(leaf)) for leaf in leaves])


SIGNED_FIELDS = ("number", "made_at", "tree_size", "root_hash", "prev_root_hash", "kid")


def signed_lines(checkpoint: Mapping[str, object]) -> bytes:
    """What the signature covers: the format line, then every field of the checkpoint but
    the signature, one per line (as its public JSON answer spells them)."""
    return "\n".join([SIGNED_FORMAT, *(str(checkpoint[f]) for f in SIGNED_FIELDS)]).encode()


def signed_text(row: AuditCheckpoint) -> bytes:
    """:func:`signed_lines` of a stored checkpoint."""
    fields = {f: getattr(row, f) for f in SIGNED_FIELDS}
    return signed_lines(fields | {"made_at": row.made_at.isoformat()})


def sign(key: SigningKey, message: bytes) -> str:
    """ES256 over ``message``: base64url of the raw ``r ‖ s`` (as in a JWS)."""
    der = key.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signature_valid(public_key: ec.EllipticCurvePublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except ValueError:
        return False
    if len(raw) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# --- reading checkpoints -------------------------------------------------------------------


def latest(session: Session) -> AuditCheckpoint | None:
    return session.exec(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.number).desc()).limit(1)
    ).first()


def history(session: Session, before: int | None, limit: int) -> list[AuditCheckpoint]:
    """Up to ``limit`` checkpoints numbered below ``before`` (all: ``None``), newest first."""
    query = select(AuditCheckpoint)
    if before is not None:
        query = query.where(col(AuditCheckpoint.number) < before)
    order = col(AuditCheckpoint.number).desc()
    return list(session.exec(query.order_by(order).limit(limit)).all())


def leaves_at(session: Session, number: int) -> list[Leaf]:
    """Checkpoint ``number``'s leaves, sorted by chain id."""
    newest = (
        select(AuditCheckpointLeaf.chain_id, func.max(AuditCheckpointLeaf.number).label("n"))
        .where(col(AuditCheckpointLeaf.number) <= number)
        .group_by(col(AuditCheckpointLeaf.chain_id))
        .subquery()
    )
    rows = session.exec(
        select(
            AuditCheckpointLeaf.chain_id, AuditCheckpointLeaf.length, AuditCheckpointLeaf.head_hash
        ).join(
            newest,
            (col(AuditCheckpointLeaf.chain_id) == newest.c.chain_id)
            & (col(AuditCheckpointLeaf.number) == newest.c.n),
        )
    ).all()
    return sorted(Leaf(*row) for row in rows)


# --- making one ------------------------------------------------------------------------------


def checkpoint_key(keyring: LocalKeyring) -> SigningKey:
    key = keyring.checkpoint_key()
    if key is None:
        raise KeyringError(
            "the keyring holds no checkpoint key (an older keyring given in the "
            "environment): add one to the keyring file and set it again"
        )
    return key


def make_checkpoint(engine: Engine, keyring: LocalKeyring, now: datetime) -> AuditCheckpoint | None:
    """A new signed checkpoint if any chain changed since the last one (else ``None``).
    Raises :class:`CheckpointBusy` when another was made at the same moment."""
    key = checkpoint_key(keyring)
    with reading(engine) as session:
        heads = sorted(Leaf(*row) for row in session.exec(_HEADS).all())
        last = latest(session)
        number, prev_root = (last.number + 1, last.root_hash) if last else (1, GENESIS_HASH)
        before = leaves_at(session, number - 1) if last is not None else []
    changed = sorted(set(heads) - set(before))
    if not changed:
        return None
    tree = tree_of(_merged(before, changed))
    row = AuditCheckpoint(
        number=number,
        made_at=now,
        tree_size=tree.size,
        root_hash=tree.root().hex(),
        prev_root_hash=prev_root,
        kid=key.kid,
        signature="",
    )
    row.signature = sign(key, signed_text(row))
    return _store(engine, row, changed)


_HEADS = select(AuditChain.chain_id, AuditChain.length, AuditChain.head_hash).where(
    col(AuditChain.length) > 0
)


def _merged(before: Sequence[Leaf], changed: Sequence[Leaf]) -> list[Leaf]:
    """The leaf set after ``changed``: each chain's newest state, sorted by chain id."""
    by_chain = {leaf.chain_id: leaf for leaf in before}
    by_chain.update({leaf.chain_id: leaf for leaf in changed})
    return [by_chain[c] for c in sorted(by_chain)]


def _store(engine: Engine, row: AuditCheckpoint, changed: Sequence[Leaf]) -> AuditCheckpoint:
    made = AuditCheckpoint(**row.model_dump())  # the caller's copy, bound to no session
    try:
        with transaction(engine) as session:
            session.add(row)
            session.flush()  # the number is taken here, or the race is lost
            session.add_all(
                AuditCheckpointLeaf(
                    chain_id=leaf.chain_id,
                    number=row.number,
                    length=leaf.length,
                    head_hash=leaf.head_hash,
                )
                for leaf in changed
            )
            session.flush()
    except IntegrityError:
        raise CheckpointBusy() from None
    return made


def fingerprint(row: AuditCheckpoint) -> str:
    """A short name of a checkpoint for people (its root's first 16 hex digits)."""
    return hashlib.sha256(signed_text(row)).hexdigest()[:16]
