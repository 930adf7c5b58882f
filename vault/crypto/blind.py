"""Blind indexes: a keyed digest of a value, so a row can be found by a value that is
never stored in clear (a DICOM UID in the study index).

The key is derived from the person's data key (HKDF-SHA256, its own ``info``), so the
digests of one person say nothing about another's, and crypto-shredding the data key
leaves digests nobody can recompute. The digest is HMAC-SHA256 over the length-prefixed
person id and value, in hex.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.crypto.aad import length_prefixed

_INFO = b"crossvault/blind-index/v1"


def blind_index(data_key: bytes, person_id: str, value: str) -> str:
    """The person's blind index of ``value`` (64 hex digits)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(data_key)
    return hmac.new(key, length_prefixed(person_id, value), hashlib.sha256).hexdigest()
