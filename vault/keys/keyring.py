"""The keyring: versioned key-encryption keys that wrap each person's data key.

:class:`KeyEncryptionKeys` is the small interface a real KMS could sit behind; only
:class:`LocalKeyring` is built. It wraps with its *current* version and unwraps with any
version still held (like Fernet's ``MultiFernet``), which is what rotation needs: add a
version, re-wrap every data key under it, then retire the old one. Retiring destroys the
old key material, so a data key still wrapped only under it no longer opens.

The keyring file (``keyring.json``, mode 0600) is JSON::

    {"format": "crossvault-keyring", "format_version": 1, "current": 2,
     "keys": [{"version": 1, "key": null, "created_at": "...", "retired": true},
              {"version": 2, "key": "<base64 of 32 bytes>", "created_at": "...",
               "retired": false}],
     "signing": {"algorithm": "ES256", "kid": "...", "private_key_pem": "...",
                 "created_at": "..."}}

A retired version keeps its entry (so its number is never reused) but not its key.
The ``signing`` section holds the P-256 key the API signs its ES256 JWTs with.

Instead of a file, the keyring may come from the environment: ``CROSSVAULT_KEYRING``
holds the same JSON, either as is or base64-encoded (``base64 -w0 keyring.json``). Such a
keyring is read-only: :meth:`LocalKeyring.add_version` and :meth:`LocalKeyring.retire`
raise :class:`KeyringError` (a key kept only in memory would be lost on restart, and
every data key wrapped under it with it).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import os
import secrets
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vault.core.errors import DecryptionFailed, KeyringError
from vault.crypto.envelope import KEY_SIZE, SealingKey

KEYRING_FORMAT = "crossvault-keyring"
KEYRING_FORMAT_VERSION = 1
KEYRING_FILENAME = "keyring.json"
KEYRING_ENV = "CROSSVAULT_KEYRING"
SIGNING_ALGORITHM = "ES256"

_T = TypeVar("_T")


class KeyEncryptionKeys(Protocol):
    """Versioned key-encryption keys: wrap with the current version, unwrap with any held."""

    @property
    def current_version(self) -> int:
        """The version :meth:`wrap` uses."""
        ...

    def versions(self) -> tuple[int, ...]:
        """Every version that can still unwrap, oldest first."""
        ...

    def wrap(self, data_key: bytes, *, aad: bytes) -> tuple[int, bytes]:
        """Seal a person's data key under the current version: ``(version, wrapped)``."""
        ...

    def unwrap(self, version: int, wrapped: bytes, *, aad: bytes) -> bytes:
        """The data key; :class:`DecryptionFailed` on any failure, including a version
        that is unknown or retired."""
        ...


class _Invalid(Exception):
    """A reason the keyring document is unusable; becomes a one-line KeyringError."""


@dataclass(frozen=True)
class _KeyVersion:
    version: int
    key: SealingKey | None  # None once retired: the key material is gone
    created_at: datetime.datetime

    @property
    def retired(self) -> bool:
        return self.key is None


@dataclass(frozen=True)
class _SigningKey:
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
class _KeyringState:
    keys: Mapping[int, _KeyVersion]
    current: int
    signing: _SigningKey


class LocalKeyring:
    """Key-encryption keys held in a 0600 JSON file in the data directory (or in
    ``CROSSVAULT_KEYRING``), plus the API's JWT signing key."""

    def __init__(self, state: _KeyringState, path: Path | None) -> None:
        self._state = state
        self._path = path
        self._mutation = threading.Lock()

    # -- making and finding a keyring ------------------------------------------------

    @classmethod
    def create(cls, path: Path, *, now: datetime.datetime | None = None) -> LocalKeyring:
        """Generate a new keyring at ``path``; refuses if anything is already there."""
        try:
            return cls._create(Path(path), now or _utcnow())
        except FileExistsError:
            raise _refusal(f"keyring {path} already exists; refusing to overwrite it") from None

    @classmethod
    def _create(cls, path: Path, now: datetime.datetime) -> LocalKeyring:
        if os.path.lexists(path):
            raise FileExistsError(path)
        first = _KeyVersion(1, SealingKey.generate(), now)
        signing = _SigningKey(ec.generate_private_key(ec.SECP256R1()), now)
        keyring = cls(_KeyringState({1: first}, 1, signing), path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, keyring._document(), replace_existing=False)
        return keyring

    @classmethod
    def load(cls, path: Path) -> LocalKeyring:
        """Read and check the keyring file; :class:`KeyringError` (one line) if unusable."""
        path = Path(path)
        content = _read_private_file(path)
        return cls(_parse(content, where=f"keyring {path}"), path)

    @classmethod
    def from_env(cls, value: str) -> LocalKeyring:
        """The keyring given in ``CROSSVAULT_KEYRING``: its JSON, or base64 of it. Read-only."""
        where = f"keyring in ${KEYRING_ENV}"
        return cls(_parse(_env_document(value, where), where=where), None)

    @property
    def path(self) -> Path | None:
        """The keyring file, or None when the keyring came from the environment."""
        return self._path

    # -- KeyEncryptionKeys -----------------------------------------------------------

    @property
    def current_version(self) -> int:
        """The version new data keys are wrapped under."""
        return self._state.current

    def versions(self) -> tuple[int, ...]:
        """Versions that still hold key material (retired ones are gone), oldest first."""
        return tuple(sorted(v for v, entry in self._state.keys.items() if not entry.retired))

    def wrap(self, data_key: bytes, *, aad: bytes) -> tuple[int, bytes]:
        """Seal a person's data key under the current version."""
        if len(data_key) != KEY_SIZE:
            raise ValueError(f"a data key is exactly {KEY_SIZE} bytes")
        state = self._state
        current = state.keys[state.current].key
        assert current is not None  # the current version is never retired
        return state.current, current.seal(data_key, aad=aad)

    def unwrap(self, version: int, wrapped: bytes, *, aad: bytes) -> bytes:
        """The data key wrapped under ``version``; :class:`DecryptionFailed` otherwise."""
        entry = self._state.keys.get(version)
        if entry is None or entry.key is None:
            raise DecryptionFailed()
        return entry.key.open(wrapped, aad=aad)

    # -- rotation --------------------------------------------------------------------

    def add_version(self, *, now: datetime.datetime | None = None) -> int:
        """Add a fresh key and make it current (persisted atomically); its version."""
        with self._mutation:
            state = self._state
            version = max(state.keys) + 1
            fresh = _KeyVersion(version, SealingKey.generate(), now or _utcnow())
            keys = {**state.keys, version: fresh}
            self._commit(replace(state, keys=keys, current=version))
            return version

    def retire(self, version: int) -> None:
        """Destroy the key material of an old version (idempotent). Data keys still
        wrapped under it will never open again, so re-wrap them first."""
        with self._mutation:
            state = self._state
            entry = state.keys.get(version)
            if entry is None or version == state.current:
                reason = "is the current version" if entry else "does not exist"
                raise KeyringError(f"cannot retire keyring version {version}: it {reason}")
            if not entry.retired:
                keys = {**state.keys, version: replace(entry, key=None)}
                self._commit(replace(state, keys=keys))

    def _commit(self, state: _KeyringState) -> None:
        if self._path is None:
            raise KeyringError(
                f"the keyring in ${KEYRING_ENV} is read-only; rotate a keyring file, then "
                f"set ${KEYRING_ENV} to its new content"
            )
        _write_atomically(self._path, _document(state), replace_existing=True)
        self._state = state

    # -- JWT signing key -------------------------------------------------------------

    def signing_key_pem(self) -> bytes:
        """The API's ES256 (P-256) JWT signing key, PKCS8 PEM, unencrypted."""
        return self._state.signing.pem

    def signing_kid(self) -> str:
        """The ``kid`` naming the signing key in JWT headers."""
        return self._state.signing.kid

    def _document(self) -> bytes:
        return _document(self._state)

    def __repr__(self) -> str:
        return (
            f"LocalKeyring(path={self._path!r}, current_version={self.current_version}, "
            f"versions={self.versions()})"
        )


def open_keyring(data_dir: Path, *, env_value: str | None, may_create: bool) -> LocalKeyring:
    """The keyring the server and CLI run with: ``$CROSSVAULT_KEYRING`` if set, else
    ``data_dir/keyring.json``. A missing file is generated only when ``may_create`` (the
    database holds no data keys yet): a fresh key over existing data would lose it all."""
    if env_value is not None:
        return LocalKeyring.from_env(env_value)
    path = Path(data_dir) / KEYRING_FILENAME
    if os.path.lexists(path):
        return LocalKeyring.load(path)
    if not may_create:
        raise KeyringError(
            _one_line(
                f"{path} is missing but the database already holds data; restore the keyring "
                f"(refusing to generate a new key over existing data)"
            )
        )
    try:
        return LocalKeyring._create(path, _utcnow())
    except FileExistsError:  # another process created it first
        return LocalKeyring.load(path)


# -- reading -----------------------------------------------------------------------------


def _read_private_file(path: Path) -> bytes:
    """The file's bytes, if it is a regular file only its owner can access."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _refusal(f"keyring {path} is missing; restore it from backup") from None
    except OSError as error:
        raise _refusal(f"keyring {path} cannot be opened ({error.strerror}); check it") from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _refusal(f"keyring {path} is not a regular file")
        if mode & 0o077:
            raise _refusal(
                f"keyring {path} is accessible to group or others (mode "
                f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
            )
        return file.read()


def _env_document(value: str, where: str) -> bytes:
    text = value.strip()
    if not text:
        raise _refusal(f"${KEYRING_ENV} is set but empty; unset it or give the keyring")
    if text.startswith("{"):
        return text.encode()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _refusal(
            f"{where} is neither keyring JSON nor base64 of it; set it to the output of "
            f"`base64 -w0 keyring.json`"
        ) from None


def _parse(content: bytes, *, where: str) -> _KeyringState:
    try:
        return _state_from(_json_object(content))
    except _Invalid as invalid:
        raise _refusal(f"{where} {invalid}") from None


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid("is not UTF-8 text; restore it from backup") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()):
            raise _Invalid("is truncated (incomplete JSON); restore it from backup") from None
        raise _Invalid(
            f"is not valid JSON (line {error.lineno}, column {error.colno}); restore it from backup"
        ) from None
    if not isinstance(document, dict) or document.get("format") != KEYRING_FORMAT:
        raise _Invalid(f"is not a crossvault keyring (expected format {KEYRING_FORMAT!r})")
    return document


def _state_from(document: dict[str, Any]) -> _KeyringState:
    format_version = _field(document, "format_version", int)
    if format_version != KEYRING_FORMAT_VERSION:
        raise _Invalid(
            f"has format version {format_version}; this crossvault reads version "
            f"{KEYRING_FORMAT_VERSION}, upgrade it"
        )
    keys = _key_versions(_field(document, "keys", list))
    current = document.get("current")
    if not isinstance(current, int) or isinstance(current, bool):
        raise _Invalid("has no current key version; restore it from backup")
    if current not in keys or keys[current].retired:
        raise _Invalid(f"names version {current} current but holds no such key; restore it")
    return _KeyringState(keys, current, _signing_key(_field(document, "signing", dict)))


def _key_versions(entries: list[Any]) -> dict[int, _KeyVersion]:
    keys: dict[int, _KeyVersion] = {}
    for entry in entries:
        key_version = _key_version(_as(entry, dict, "keys[]"))
        if key_version.version in keys:
            raise _Invalid(f"lists version {key_version.version} twice; restore it from backup")
        keys[key_version.version] = key_version
    return keys


def _key_version(entry: dict[str, Any]) -> _KeyVersion:
    version = _field(entry, "version", int)
    created_at = _timestamp(_field(entry, "created_at", str))
    if _field(entry, "retired", bool):
        if entry.get("key") is not None:
            raise _Invalid(f"still holds key material for retired version {version}")
        return _KeyVersion(version, None, created_at)
    key = _base64(_field(entry, "key", str), f"key of version {version}")
    if len(key) != KEY_SIZE:
        raise _Invalid(f"key of version {version} is {len(key)} bytes, not {KEY_SIZE}")
    return _KeyVersion(version, SealingKey(key), created_at)


def _signing_key(section: dict[str, Any]) -> _SigningKey:
    if _field(section, "algorithm", str) != SIGNING_ALGORITHM:
        raise _Invalid(f"signing key is not {SIGNING_ALGORITHM}")
    pem = _field(section, "private_key_pem", str).encode()
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _Invalid("signing key is not a readable PEM private key") from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise _Invalid(f"signing key is not a P-256 key, as {SIGNING_ALGORITHM} needs")
    signing = _SigningKey(private_key, _timestamp(_field(section, "created_at", str)))
    if _field(section, "kid", str) != signing.kid:
        raise _Invalid("signing kid does not match the signing key")
    return signing


def _field(mapping: dict[str, Any], name: str, kind: type[_T]) -> _T:
    return _as(mapping.get(name), kind, name)


def _as(value: object, kind: type[_T], name: str) -> _T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(f"has a missing or malformed {name!r}; restore it from backup")
    return value


def _base64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid(f"{name} is not base64") from None


def _timestamp(text: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid(f"has a malformed timestamp {text!r}") from None


# -- writing -----------------------------------------------------------------------------


def _document(state: _KeyringState) -> bytes:
    keys = [_key_entry(state.keys[version]) for version in sorted(state.keys)]
    document = {
        "format": KEYRING_FORMAT,
        "format_version": KEYRING_FORMAT_VERSION,
        "current": state.current,
        "keys": keys,
        "signing": {
            "algorithm": SIGNING_ALGORITHM,
            "kid": state.signing.kid,
            "private_key_pem": state.signing.pem.decode(),
            "created_at": state.signing.created_at.isoformat(),
        },
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def _key_entry(entry: _KeyVersion) -> dict[str, Any]:
    key = None if entry.key is None else base64.b64encode(entry.key.raw()).decode()
    return {
        "version": entry.version,
        "key": key,
        "created_at": entry.created_at.isoformat(),
        "retired": entry.retired,
    }


def _write_atomically(path: Path, content: bytes, *, replace_existing: bool) -> None:
    """Write a 0600 temp file beside ``path``, fsync, move it into place, fsync the
    directory. Without ``replace_existing`` it refuses (FileExistsError) atomically."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        if replace_existing:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if path exists: never overwrite a keyring
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _refusal(message: str) -> KeyringError:
    return KeyringError(_one_line(message))


def _one_line(message: str) -> str:
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class FollowedKeyring(LocalKeyring):
    """The keyring file as this process sees it, kept up with what other processes write.

    A server loads ``keyring.json`` once, at start; ``crossvault keys rotate`` (or another
    worker's ``POST /v1/admin/keys/rotate``) may add and retire versions meanwhile.
    Without following the file, the server answers every re-wrapped key with an
    integrity failure, and — worse — keeps wrapping new persons' data keys under the
    version the rotation has just destroyed, so they never open after a restart.

    So: before wrapping (and before telling the current version), the file's identity
    (inode, mtime, size) is compared with what was loaded, and the file is re-read if it
    changed; an unwrap under a version this process does not hold re-reads it too. A
    missing or broken file then refuses (:class:`KeyringError`) rather than wrapping
    under a key that exists only in memory. Reads of known versions never touch the file.
    """

    def __init__(self, keyring: LocalKeyring) -> None:
        if keyring.path is None:
            raise ValueError("only a keyring file can be followed")
        super().__init__(keyring._state, keyring.path)
        self._file = keyring.path
        self._stamp: tuple[int, int, int] | None = (-1, -1, -1)  # never read: read it now
        self._reloading = threading.Lock()
        self._follow()

    @property
    def current_version(self) -> int:
        self._follow()
        return super().current_version

    def versions(self) -> tuple[int, ...]:
        self._follow()
        return super().versions()

    def wrap(self, data_key: bytes, *, aad: bytes) -> tuple[int, bytes]:
        self._follow()
        return super().wrap(data_key, aad=aad)

    def unwrap(self, version: int, wrapped: bytes, *, aad: bytes) -> bytes:
        if version not in super().versions():
            self._follow()
        return super().unwrap(version, wrapped, aad=aad)

    def _commit(self, state: _KeyringState) -> None:
        with self._reloading:
            super()._commit(state)
            self._stamp = _file_stamp(self._file)

    def _follow(self) -> None:
        if _file_stamp(self._file) == self._stamp:
            return
        with self._reloading:
            while (before := _file_stamp(self._file)) != self._stamp:
                fresh = LocalKeyring.load(self._file)
                if _file_stamp(self._file) == before:  # not replaced while we read it
                    self._state, self._stamp = fresh._state, before


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size
