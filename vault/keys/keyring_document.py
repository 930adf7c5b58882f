"""The keyring file's document: its JSON format (``crossvault-keyring``, version 1), read
into a :class:`KeyringState` and written back, every defect a one-line reason
(:class:`InvalidDocument`). See :mod:`vault.keys.keyring` for the format itself."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vault.crypto.envelope import KEY_SIZE, SealingKey

KEYRING_FORMAT = "crossvault-keyring"
KEYRING_FORMAT_VERSION = 1
SIGNING_ALGORITHM = "ES256"

_T = TypeVar("_T")


class InvalidDocument(Exception):
    """A reason the keyring document is unusable; becomes a one-line KeyringError."""


@dataclass(frozen=True)
class KeyVersion:
    version: int
    key: SealingKey | None  # None once retired: the key material is gone
    created_at: datetime.datetime

    @property
    def retired(self) -> bool:
        return self.key is None


@dataclass(frozen=True)
class SigningKey:
    private_key: ec.EllipticCurvePrivateKey
    created_at: datetime.datetime

    @property
    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def kid(self) -> str:
        """base64url(SHA-256(public key DER))[:16]: names the key in JWT headers."""
        public_der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.urlsafe_b64encode(hashlib.sha256(public_der).digest()).decode()[:16]


@dataclass(frozen=True)
class KeyringState:
    keys: Mapping[int, KeyVersion]
    current: int
    signing: SigningKey
    checkpoint: SigningKey | None = None  # signs the audit checkpoints (absent in old files)


def json_object(content: bytes) -> dict[str, Any]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidDocument("is not UTF-8 text; restore it from backup") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()):
            raise InvalidDocument(
                "is truncated (incomplete JSON); restore it from backup"
            ) from None
        raise InvalidDocument(
            f"is not valid JSON (line {error.lineno}, column {error.colno}); restore it from backup"
        ) from None
    if not isinstance(document, dict) or document.get("format") != KEYRING_FORMAT:
        raise InvalidDocument(f"is not a crossvault keyring (expected format {KEYRING_FORMAT!r})")
    return document


def state_from(document: dict[str, Any]) -> KeyringState:
    format_version = _field(document, "format_version", int)
    if format_version != KEYRING_FORMAT_VERSION:
        raise InvalidDocument(
            f"has format version {format_version}; this crossvault reads version "
            f"{KEYRING_FORMAT_VERSION}, upgrade it"
        )
    keys = _key_versions(_field(document, "keys", list))
    current = document.get("current")
    if not isinstance(current, int) or isinstance(current, bool):
        raise InvalidDocument("has no current key version; restore it from backup")
    if current not in keys or keys[current].retired:
        raise InvalidDocument(f"names version {current} current but holds no such key; restore it")
    signing = _signing_key(_field(document, "signing", dict))
    section = document.get("checkpoint_signing")
    checkpoint = None if section is None else _signing_key(_as(section, dict, "checkpoint_signing"))
    return KeyringState(keys, current, signing, checkpoint)


def _key_versions(entries: list[Any]) -> dict[int, KeyVersion]:
    keys: dict[int, KeyVersion] = {}
    for entry in entries:
        key_version = _key_version(_as(entry, dict, "keys[]"))
        if key_version.version in keys:
            raise InvalidDocument(
                f"lists version {key_version.version} twice; restore it from backup"
            )
        keys[key_version.version] = key_version
    return keys


def _key_version(entry: dict[str, Any]) -> KeyVersion:
    version = _field(entry, "version", int)
    created_at = _timestamp(_field(entry, "created_at", str))
    if _field(entry, "retired", bool):
        if entry.get("key") is not None:
            raise InvalidDocument(f"still holds key material for retired version {version}")
        return KeyVersion(version, None, created_at)
    key = _base64(_field(entry, "key", str), f"key of version {version}")
    if len(key) != KEY_SIZE:
        raise InvalidDocument(f"key of version {version} is {len(key)} bytes, not {KEY_SIZE}")
    return KeyVersion(version, SealingKey(key), created_at)


def _signing_key(section: dict[str, Any]) -> SigningKey:
    if _field(section, "algorithm", str) != SIGNING_ALGORITHM:
        raise InvalidDocument(f"signing key is not {SIGNING_ALGORITHM}")
    pem = _field(section, "private_key_pem", str).encode()
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidDocument("signing key is not a readable PEM private key") from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise InvalidDocument(f"signing key is not a P-256 key, as {SIGNING_ALGORITHM} needs")
    signing = SigningKey(private_key, _timestamp(_field(section, "created_at", str)))
    if _field(section, "kid", str) != signing.kid:
        raise InvalidDocument("signing kid does not match the signing key")
    return signing


def _field(mapping: dict[str, Any], name: str, kind: type[_T]) -> _T:
    return _as(mapping.get(name), kind, name)


def _as(value: object, kind: type[_T], name: str) -> _T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidDocument(f"has a missing or malformed {name!r}; restore it from backup")
    return value


def _base64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDocument(f"{name} is not base64") from None


def _timestamp(text: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidDocument(f"has a malformed timestamp {text!r}") from None


def document_of(state: KeyringState) -> bytes:
    keys = [_key_entry(state.keys[version]) for version in sorted(state.keys)]
    document = {
        "format": KEYRING_FORMAT,
        "format_version": KEYRING_FORMAT_VERSION,
        "current": state.current,
        "keys": keys,
        "signing": _signing_entry(state.signing),
    }
    if state.checkpoint is not None:
        document["checkpoint_signing"] = _signing_entry(state.checkpoint)
    return (json.dumps(document, indent=2) + "\n").encode()


def _signing_entry(key: SigningKey) -> dict[str, Any]:
    return {
        "algorithm": SIGNING_ALGORITHM,
        "kid": key.kid,
        "private_key_pem": key.pem.decode(),
        "created_at": key.created_at.isoformat(),
    }


def _key_entry(entry: KeyVersion) -> dict[str, Any]:
    key = None if entry.key is None else base64.b64encode(entry.key.raw()).decode()
    return {
        "version": entry.version,
        "key": key,
        "created_at": entry.created_at.isoformat(),
        "retired": entry.retired,
    }
