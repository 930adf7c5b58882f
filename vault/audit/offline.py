"""Checking a person's access log offline, with nothing but the JWKS public keys.

Given the access-log answer (one page or several, as JSON) and the JWKS: the checkpoint's
ES256 signature by the key its ``kid`` names; the leaf (the person's chain id, the length
and head hash the checkpoint saw) included in the signed root by the RFC 9162 path; each
entry's hash recomputed from its fields; each entry linked to the one before; the newest
entry being the chain's head; and the entry at the checkpoint's length carrying the leaf's
head hash — so the log shown extends what the checkpoint committed to. This is what
``crossvault audit prove`` runs (``docs/audit.md`` does the same by hand).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from vault.audit.checkpoints import Leaf, leaf_bytes, signature_valid, signed_lines
from vault.audit.merkle import included, leaf_hash
from vault.store.audit import GENESIS_HASH, entry_hash


def jwk_public_key(jwk: Mapping[str, str]) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its JWK."""

    def number(name: str) -> int:
        text = jwk[name]
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    return ec.EllipticCurvePublicNumbers(number("x"), number("y"), ec.SECP256R1()).public_key()


def check_access_log(pages: Sequence[Mapping[str, Any]], jwks: Mapping[str, Any]) -> list[str]:
    """What is wrong with the access log ``pages`` (newest page first): ``[]`` if it
    verifies. Each problem is one sentence naming the entry or the check that failed."""
    chain = pages[0]["chain"]
    entries = sorted((e for page in pages for e in page["items"]), key=lambda e: e["seq"])
    problems = _chain_problems(chain, entries)
    proof = pages[0].get("checkpoint_proof")
    if proof is None:
        return [*problems, "no checkpoint covers this chain yet: nothing to prove it against"]
    return [*problems, *_proof_problems(chain, proof, entries, jwks)]


def _chain_problems(chain: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    by_seq = {e["seq"]: e for e in entries}
    for entry in entries:
        if _hash_of(chain["person_id"], entry) != entry["entry_hash"]:
            problems.append(f"entry {entry['seq']}: its hash does not match its contents")
        before = by_seq.get(entry["seq"] - 1)
        expected = GENESIS_HASH if entry["seq"] == 1 else before and before["entry_hash"]
        if expected is not None and entry["prev_hash"] != expected:
            problems.append(f"entry {entry['seq']}: does not follow entry {entry['seq'] - 1}")
    newest = entries[-1] if entries else None
    if newest is not None and (newest["seq"], newest["entry_hash"]) != (
        chain["length"],
        chain["head_hash"],
    ):
        problems.append("the newest entry shown is not the chain's head")
    return problems


def _hash_of(person_id: str, entry: Mapping[str, Any]) -> str:
    fields = {
        **{k: entry[k] for k in entry if k != "entry_hash"},
        "chain_id": person_id,
        "person_id": person_id,
        "at": datetime.fromisoformat(entry["at"]),
    }
    return entry_hash(fields)


def _proof_problems(
    chain: Mapping[str, Any],
    proof: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    jwks: Mapping[str, Any],
) -> list[str]:
    checkpoint = proof["checkpoint"]
    keys = {k["kid"]: k for k in jwks.get("keys", [])}
    if checkpoint["kid"] not in keys:
        return [f"the JWKS holds no key {checkpoint['kid']} (the checkpoint's signer)"]
    problems: list[str] = []
    key = jwk_public_key(keys[checkpoint["kid"]])
    if not signature_valid(key, signed_lines(checkpoint), checkpoint["signature"]):
        problems.append(f"checkpoint {checkpoint['number']}: its signature does not verify")
    leaf = Leaf(chain["person_id"], proof["leaf_length"], proof["leaf_head_hash"])
    path = [bytes.fromhex(h) for h in proof["path"]]
    root = bytes.fromhex(checkpoint["root_hash"])
    if not included(proof["leaf_index"], checkpoint["tree_size"], _leaf(leaf), path, root):
        problems.append("the chain's leaf is not included in the checkpoint's root")
    covered = next((e for e in entries if e["seq"] == leaf.length), None)
    if covered is not None and covered["entry_hash"] != leaf.head_hash:
        problems.append(f"entry {leaf.length} is not the one the checkpoint covered")
    if leaf.length > chain["length"]:
        problems.append("the chain is shorter than the checkpoint covered (truncated)")
    return problems


def _leaf(leaf: Leaf) -> bytes:
    return leaf_hash(leaf_bytes(leaf))
