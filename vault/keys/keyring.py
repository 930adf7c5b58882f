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
The ``signing`` section holds the P-256 key the API signs its ES256 JWTs with;
``checkpoint_signing`` (same shape; added to older files when a vault opens them) the one
the audit checkpoints are signed with (:mod:`vault.audit`). Both are published in the JWKS.

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
import os
import secrets
import stat
import threading
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from vault.core.errors import DecryptionFailed, KeyringError
from vault.crypto.envelope import KEY_SIZE, SealingKey
from vault.keys.keyring_document import (
    InvalidDocument,
    KeyringState,
    KeyVersion,
    SigningKey,
    document_of,
    json_object,
    state_from,
)

KEYRING_FILENAME = "keyring.json"
KEYRING_ENV = "CROSSVAULT_KEYRING"


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


class LocalKeyring:
    """Key-encryption keys held in a 0600 JSON file in the data directory (or in
    ``CROSSVAULT_KEYRING``), plus the API's JWT signing key."""

    def __init__(self, state: KeyringState, path: Path | None) -> None:
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
        first = KeyVersion(1, SealingKey.generate(), now)
        signing = SigningKey(ec.generate_private_key(ec.SECP256R1()), now)
        checkpoint = SigningKey(ec.generate_private_key(ec.SECP256R1()), now)
        keyring = cls(KeyringState({1: first}, 1, signing, checkpoint), path)
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
            fresh = KeyVersion(version, SealingKey.generate(), now or _utcnow())
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

    def _commit(self, state: KeyringState) -> None:
        if self._path is None:
            raise KeyringError(
                f"the keyring in ${KEYRING_ENV} is read-only; rotate a keyring file, then "
                f"set ${KEYRING_ENV} to its new content"
            )
        _write_atomically(self._path, document_of(state), replace_existing=True)
        self._state = state

    # -- JWT signing key -------------------------------------------------------------

    def signing_key_pem(self) -> bytes:
        """The API's ES256 (P-256) JWT signing key, PKCS8 PEM, unencrypted."""
        return self._state.signing.pem

    def signing_kid(self) -> str:
        """The ``kid`` naming the signing key in JWT headers."""
        return self._state.signing.kid

    # -- the audit checkpoints' signing key --------------------------------------------

    def checkpoint_key(self) -> SigningKey | None:
        """The P-256 key audit checkpoints are signed with (``None``: an older keyring
        given in the environment, which cannot be extended)."""
        return self._state.checkpoint

    def add_checkpoint_key(self, *, now: datetime.datetime | None = None) -> SigningKey:
        """The checkpoint key, generated and persisted first if the keyring has none."""
        with self._mutation:
            if self._state.checkpoint is None:
                key = SigningKey(ec.generate_private_key(ec.SECP256R1()), now or _utcnow())
                self._commit(replace(self._state, checkpoint=key))
            assert self._state.checkpoint is not None
            return self._state.checkpoint

    def _document(self) -> bytes:
        return document_of(self._state)

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


def _parse(content: bytes, *, where: str) -> KeyringState:
    try:
        return state_from(json_object(content))
    except InvalidDocument as invalid:
        raise _refusal(f"{where} {invalid}") from None


# -- writing -----------------------------------------------------------------------------


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

    def checkpoint_key(self) -> SigningKey | None:
        self._follow()
        return super().checkpoint_key()

    def _commit(self, state: KeyringState) -> None:
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
