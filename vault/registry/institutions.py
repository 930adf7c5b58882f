"""The registry of institutions: synced from the policy file, their professionals and
their client credentials."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlmodel import Session, select

from policies.policy_file import Policy
from vault.core.errors import NotFound
from vault.core.ids import new_id
from vault.crypto.passwords import hash_password, verify_password
from vault.store.tables import Institution, InstitutionCredential, Professional


def sync_institutions(session: Session, policy: Policy) -> int:
    """Make the Institution table match the policy's registry (adds and renames)."""
    existing = {i.id: i for i in session.exec(select(Institution)).all()}
    for inst in policy.institutions.values():
        row = existing.get(inst.id) or Institution(id=inst.id, name="", region="")
        row.name, row.region = inst.name, str(inst.region)
        session.add(row)
    session.flush()
    return len(policy.institutions)


def register_professional(
    session: Session,
    institution_id: str,
    *,
    name: str,
    profession: str,
    now: datetime,
    professional_id: str | None = None,
) -> Professional:
    if session.get(Institution, institution_id) is None:
        raise NotFound("institution not found")
    row = Professional(
        id=professional_id or new_id(),
        institution_id=institution_id,
        name=name,
        profession=profession,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def issue_credentials(
    session: Session,
    institution_id: str,
    *,
    now: datetime,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> tuple[str, str]:
    """A new client id and secret for the institution; the secret is shown once."""
    if session.get(Institution, institution_id) is None:
        raise NotFound("institution not found")
    cid = client_id or f"{institution_id}-{secrets.token_hex(4)}"
    secret = client_secret or secrets.token_urlsafe(32)
    session.add(
        InstitutionCredential(
            client_id=cid,
            institution_id=institution_id,
            secret_hash=hash_password(secret),
            created_at=now,
        )
    )
    session.flush()
    return cid, secret


def authenticate_client(session: Session, client_id: str, client_secret: str) -> str | None:
    """The institution id for a valid, unrevoked credential; ``None`` otherwise."""
    row = session.get(InstitutionCredential, client_id)
    valid = verify_password(row.secret_hash if row else None, client_secret)
    if not valid or row is None or row.revoked_at is not None:
        return None
    return row.institution_id
