"""Tamper evidence across the audit chains: signed checkpoints (RFC 9162 Merkle trees
over every chain's head), their verification, and a person's inclusion proof."""
