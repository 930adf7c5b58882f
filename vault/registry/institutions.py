"""The registry of institutions: synced from the policy file, their professionals and their
credentials — the rows, and the one way to check a credential.

Who may change them is decided elsewhere (R9, separation of duties): an institution's own
admin client manages its professionals and client credentials
(:mod:`vault.registry.staff`); operators only give an institution its admin credential,
two of them together (:mod:`vault.registry.onboarding`). Every change stamps the
institution's ``credentials_changed_at``, which the public registry shows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from policies.policy_file import Policy
from vault.core.errors import NotFound
from vault.core.ids import new_id
from vault.crypto.passwords import hash_password, verify_password
from vault.store.engine import reading
from vault.store.statements import Prepared
from vault.store.tables import Institution, InstitutionCredential, Professional

ADMIN = "admin"  # an institution's admin client: manages its staff, reads nothing
CLIENT = "client"  # mints tokens for the institution's professionals


def sync_institutions(session: Session, policy: Policy) -> int:
    """Make the Institution table match the policy's registry (adds and renames)."""
    existing = {i.id: i for i in session.exec(select(Institution)).all()}
    for inst in policy.institutions.values():
        row = existing.get(inst.id) or Institution(id=inst.id, name="", region="")
        row.name, row.region = inst.name, str(inst.region)
        session.add(row)
    session.flush()
    return len(policy.institutions)


@dataclass(frozen=True)
class NewProfessional:
    """A professional an institution registers: a name and a profession (the role that
    decides which categories they see, R3)."""

    name: str
    profession: str
    professional_id: str | None = None


def add_professional(
    session: Session, institution_id: str, new: NewProfessional, *, now: datetime
) -> Professional:
    """The row of a new professional of ``institution_id`` (in the caller's transaction)."""
    if session.get(Institution, institution_id) is None:
        raise NotFound("institution not found")
    row = Professional(
        id=new.professional_id or new_id(),
        institution_id=institution_id,
        name=new.name,
        profession=new.profession,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class NewCredential:
    """A credential about to be stored: its kind, its id and its secret already hashed
    (argon2id runs before the write transaction, never inside it)."""

    institution_id: str
    kind: str
    client_id: str
    secret_hash: str

    @classmethod
    def made(
        cls, institution_id: str, kind: str, client_id: str | None = None, secret: str | None = None
    ) -> tuple[NewCredential, str]:
        """A new credential and its secret (shown once)."""
        secret = secret or secrets.token_urlsafe(32)
        cid = (
            client_id
            or f"{institution_id}-{'admin-' if kind == ADMIN else ''}{secrets.token_hex(4)}"
        )
        return cls(institution_id, kind, cid, hash_password(secret)), secret


def credentials_changed(session: Session, institution_id: str, now: datetime) -> None:
    """Date the institution's public ``credentials_changed_at``: an admin or client
    credential, or a SMART client's keys, changed at ``now``."""
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise NotFound("institution not found")
    institution.credentials_changed_at = now
    session.add(institution)


def store_credential(session: Session, new: NewCredential, *, now: datetime) -> None:
    """Store ``new``; a new admin credential replaces (revokes) the institution's others."""
    credentials_changed(session, new.institution_id, now)
    if new.kind == ADMIN:
        for old in _credentials(session, new.institution_id, ADMIN):
            old.revoked_at = now
            session.add(old)
    session.add(
        InstitutionCredential(
            client_id=new.client_id,
            institution_id=new.institution_id,
            kind=new.kind,
            secret_hash=new.secret_hash,
            created_at=now,
        )
    )
    session.flush()


def _credentials(session: Session, institution_id: str, kind: str) -> list[InstitutionCredential]:
    return list(
        session.exec(
            select(InstitutionCredential).where(
                InstitutionCredential.institution_id == institution_id,
                InstitutionCredential.kind == kind,
                col(InstitutionCredential.revoked_at).is_(None),
            )
        )
    )


@dataclass(frozen=True)
class ClientIdentity:
    """Who a valid credential belongs to."""

    client_id: str
    institution_id: str
    kind: str


def authenticate_client(
    engine: Engine, client_id: str, client_secret: str
) -> ClientIdentity | None:
    """The identity of a valid, unrevoked credential; ``None`` otherwise — the same work
    (one argon2id verification) whether or not the client exists, in a read-only snapshot
    so no write lock is held while argon2id runs."""
    with reading(engine) as session:
        row = _CREDENTIAL.first(session, {"client": client_id})
    stored = row[0] if row is not None else None
    if not verify_password(stored, client_secret) or row is None or row[4] is not None:
        return None
    return ClientIdentity(row[1], row[2], row[3])


# Asked by every institution's login (prepared: see vault.store.statements).
_CREDENTIAL = Prepared(
    sa_select(
        col(InstitutionCredential.secret_hash),
        col(InstitutionCredential.client_id),
        col(InstitutionCredential.institution_id),
        col(InstitutionCredential.kind),
        col(InstitutionCredential.revoked_at),
    ).where(col(InstitutionCredential.client_id) == bindparam("client"))
)


def professional_of(engine: Engine, professional_id: str, institution_id: str) -> bool:
    """Is ``professional_id`` one of the institution's professionals, not suspended?"""
    with reading(engine) as session:
        row = _PROFESSIONAL.first(session, {"professional": professional_id})
    return row is not None and row[0] == institution_id and not row[1]


# Asked by every request of a signed-in professional (prepared: vault.store.statements).
_PROFESSIONAL = Prepared(
    sa_select(col(Professional.institution_id), col(Professional.suspended_at)).where(
        col(Professional.id) == bindparam("professional")
    )
)
