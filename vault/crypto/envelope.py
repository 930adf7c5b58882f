"""Sealing health records at rest: AES-256-GCM envelopes bound to their place by AAD.

After pyca's Fernet: the key is checked when it is made, callers never choose nonces,
data goes in and out as ``bytes``, and every failure to open is one opaque
:class:`~vault.core.errors.DecryptionFailed`.

An envelope is ``0x01 || nonce (12) || ciphertext || tag (16)``. The AAD ties it to one
place in the vault (a record of one person, a person's wrapped data key, a blob of one
record), so a ciphertext copied into another row does not open there; every AAD is built
by :mod:`vault.crypto.aad`.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.core.errors import DecryptionFailed

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
ENVELOPE_VERSION = b"\x01"
ENVELOPE_OVERHEAD = len(ENVELOPE_VERSION) + NONCE_SIZE + TAG_SIZE


class SealingKey:
    """A 256-bit AES-GCM key that seals plaintext into self-describing envelopes.

    Like :class:`vault.crypto.secrets.Secret`, it never shows its bytes in ``repr``/``str``.
    """

    __slots__ = ("_aead", "_key")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_SIZE:
            raise ValueError(f"a sealing key is exactly {KEY_SIZE} bytes")
        self._key = key
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> SealingKey:
        """A fresh random key (a person's data key, or a keyring version)."""
        return cls(AESGCM.generate_key(bit_length=KEY_SIZE * 8))

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext`` under a fresh random nonce."""
        nonce = os.urandom(NONCE_SIZE)
        return ENVELOPE_VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, envelope: bytes, *, aad: bytes) -> bytes:
        """The plaintext, or :class:`DecryptionFailed` whatever went wrong."""
        try:
            return self._open(envelope, aad)
        except Exception:
            raise DecryptionFailed() from None

    def _open(self, envelope: bytes, aad: bytes) -> bytes:
        if len(envelope) < ENVELOPE_OVERHEAD or envelope[:1] != ENVELOPE_VERSION:
            raise DecryptionFailed()
        view = memoryview(envelope)
        return self._aead.decrypt(view[1 : 1 + NONCE_SIZE], view[1 + NONCE_SIZE :], aad)

    def raw(self) -> bytes:
        """The key bytes, for wrapping under the keyring. Never log them."""
        return self._key

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"

    __str__ = __repr__
