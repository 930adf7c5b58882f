"""The codes a person is given (application code, passcode, radiology authorisation code)
and the rows a person owns.

Codes are shown once, in the answer that issues them, and stored twice: as a SHA-256 hash
to look them up, and sealed with the person's data key (AAD bound to the code's kind, the
person and the authorisation row: :func:`vault.crypto.aad.code`), so that only the person —
or their caregiver — can fetch them again as QR codes while the authorisation is usable.
Erasing the person destroys them with the key.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlmodel import Session

from vault.core.errors import NotFound
from vault.crypto import aad
from vault.crypto.aad import CodeKind
from vault.crypto.envelope import SealingKey
from vault.crypto.secrets import Secret
from vault.keys.datakeys import DataKeys


def seal_code(
    key: SealingKey, kind: CodeKind, person_id: str, authorisation_id: str, code: str
) -> bytes:
    return key.seal(code.encode(), aad=aad.code(kind, person_id, authorisation_id))


def open_code(
    session: Session,
    keys: DataKeys,
    kind: CodeKind,
    row: PersonRow,
    sealed: bytes,
) -> Secret[str]:
    """The code sealed in ``row`` (an authorisation of ``row.person_id``)."""
    key = keys.get(session, row.person_id)
    return Secret(key.open(sealed, aad=aad.code(kind, row.person_id, row.id)).decode())


class PersonRow(Protocol):
    """A row that belongs to one person (a consent, an authorisation, a delegation)."""

    @property
    def id(self) -> str: ...

    @property
    def person_id(self) -> str: ...


R = TypeVar("R", bound=PersonRow)


def owned(session: Session, table: type[R], person_id: str, ident: str) -> R | None:
    """The row ``ident`` if it is the person's: another person's id is simply missing."""
    row = session.get(table, (person_id, ident))  # the key leads with the person
    return row if row is not None and row.person_id == person_id else None


def owned_or_missing(session: Session, table: type[R], person_id: str, ident: str) -> R:
    """:func:`owned`, or :class:`NotFound` — the same for another person's id (R10)."""
    row = owned(session, table, person_id, ident)
    if row is None:
        raise NotFound(f"no such {table.__name__}")
    return row
