"""argon2id hashes for citizens' passwords and institutions' client secrets; SHA-256 for
high-entropy codes (application codes, passcodes, OTP-request tokens) compared in
constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's argon2id minimum (19 MiB, t=2, p=1): the simulator creates thousands of people.
PRODUCTION_TIME_COST = 2
PRODUCTION_MEMORY_KIB = 19 * 1024


class _Hashing:
    hasher = PasswordHasher(
        time_cost=PRODUCTION_TIME_COST, memory_cost=PRODUCTION_MEMORY_KIB, parallelism=1
    )
    dummy = hasher.hash("crossvault-dummy-password")


def use_cost(*, time_cost: int, memory_kib: int) -> None:
    """Change the argon2id cost for new hashes (the test suite lowers it to stay fast;
    existing hashes carry their own parameters and still verify)."""
    _Hashing.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
    _Hashing.dummy = _Hashing.hasher.hash("crossvault-dummy-password")


def hash_password(password: str) -> str:
    return _Hashing.hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (``stored_hash`` None)."""
    try:
        verified = _Hashing.hasher.verify(stored_hash or _Hashing.dummy, password)
        return verified and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def same_code(stored_hash: str, presented: str) -> bool:
    return hmac.compare_digest(stored_hash, code_hash(presented))


_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_code(prefix: str, length: int) -> str:
    """A random code, grouped in fours for people who type it: ``CB-7KQ2-M9XD-…``."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return _grouped(prefix, body)


def _grouped(prefix: str, body: str) -> str:
    return "-".join([prefix, *(body[i : i + 4] for i in range(0, len(body), 4))])


CODE_PREFIX_LENGTH = 2  # CB, PC, RA


def canonical_code(typed: str) -> str:
    """A code as it was issued, from however a person typed or pasted it: any letter
    case, with or without the dashes, spaces and line breaks between its groups. What is
    not such a code comes back as something no code hashes to."""
    letters = "".join(c for c in typed.upper() if c.isalnum())
    if len(letters) <= CODE_PREFIX_LENGTH:
        return letters
    return _grouped(letters[:CODE_PREFIX_LENGTH], letters[CODE_PREFIX_LENGTH:])


def new_otp() -> str:
    return f"{secrets.randbelow(10**6):06d}"
