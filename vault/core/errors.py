"""Domain errors raised by the vault. ``api/errors.py`` maps them to problem+json."""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error the vault raises on purpose. ``code`` is stable."""

    code = "vault_error"


class DecryptionFailed(VaultError):
    """One opaque error for every failure to authenticate or decode ciphertext.

    It never says *why* (wrong key, flipped bit, moved row, truncated stream): an
    attacker learns nothing from which check failed.
    """

    code = "integrity_failure"

    def __init__(self) -> None:
        super().__init__("the stored data failed its integrity check")


class KeyringError(VaultError):
    """The keyring is missing, corrupt, truncated or unsafe. The message is one line
    that a person can act on; the server and CLI refuse to start with it."""

    code = "keyring_unusable"


class NotFound(VaultError):
    """The thing does not exist *or the caller may not see it* (R10: same answer)."""

    code = "not_found"


class Denied(VaultError):
    """A decision went against the caller on something other than a record read.
    The reason stays in the audit log; the caller learns only the action it tried."""

    code = "forbidden"

    def __init__(self, action: str) -> None:
        super().__init__(f"not permitted: {action}")
        self.action = action


class PersonErased(VaultError):
    """The person's data key was destroyed (crypto-shredded)."""

    code = "person_erased"
