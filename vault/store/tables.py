"""SQLModel tables. Only what queries need stays in clear; titles, bodies, names and
DICOM metadata are sealed with the person's data key.

In clear, by design (each is needed by a query or a policy decision): person id, date of
birth (cross-border eligibility by age), joined instant; record category, source,
clinical date, depositor, size, content type, and a digest of the *ciphertext* (a digest
of the plaintext would let anyone confirm a guessed document).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, ForeignKeyConstraint, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from vault.store.types import UTCDateTime


def _instant(nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


def _sealed(nullable: bool = False) -> Column[bytes]:
    return Column(LargeBinary, nullable=nullable)


class Person(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name_sealed: bytes = Field(sa_column=_sealed())
    date_of_birth: date
    password_hash: str = Field(max_length=200)
    joined_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    created_at: datetime = Field(sa_column=_instant())
    erased_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class PersonDataKey(SQLModel, table=True):
    """The person's data key, wrapped by keyring version ``key_version``.

    Deleting the row is crypto-shredding: every record of the person becomes noise.
    """

    person_id: str = Field(primary_key=True, foreign_key="person.id", max_length=40)
    key_version: int = Field(index=True)
    wrapped: bytes = Field(sa_column=_sealed())
    created_at: datetime = Field(sa_column=_instant())
    rewrapped_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class Institution(SQLModel, table=True):
    """A row per institution of the policy registry (synced from the policy file)."""

    id: str = Field(primary_key=True, max_length=80)
    name: str = Field(max_length=200)
    region: str = Field(max_length=20)
    # When its admin or client credentials last changed (public: GET /v1/institutions/{id}).
    credentials_changed_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class Professional(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=80)
    name: str = Field(max_length=200)
    profession: str = Field(max_length=60)
    created_at: datetime = Field(sa_column=_instant())
    # Suspended by its institution's admin: refused from the next request on.
    suspended_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class Record(SQLModel, table=True):
    """A health record. ``state`` is ``committed`` once visible; radiology deposits stay
    ``pending`` until their deposit completes, and no query for readers sees them."""

    __table_args__ = (
        Index("ix_record_person_visible", "person_id", "state", "clinical_date", "id"),
    )

    person_id: str = Field(primary_key=True, foreign_key="person.id", max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    category: str = Field(max_length=40)
    source: str = Field(max_length=20)
    clinical_date: date
    depositor_institution_id: str | None = Field(default=None, max_length=80)
    depositor_professional_id: str | None = Field(default=None, max_length=40)
    content_type: str = Field(max_length=120)
    size: int
    digest: str = Field(max_length=64)
    title_sealed: bytes = Field(sa_column=_sealed())
    body_sealed: bytes | None = Field(default=None, sa_column=_sealed(nullable=True))
    blob_name: str | None = Field(default=None, max_length=120)
    metadata_sealed: bytes | None = Field(default=None, sa_column=_sealed(nullable=True))
    state: str = Field(default="committed", max_length=12)
    created_at: datetime = Field(sa_column=_instant())


class AuditEntry(SQLModel, table=True):
    """One decision, hash-chained to the entry before it *in its chain*: a person's own
    chain (``chain_id`` = their id) for every decision about them, the system chain
    (``chain_id`` = ``""``) for decisions about no person (the registry, keys, operators).

    Holds identities, the action, the decision and its reason — never health data,
    titles, content, codes or passcodes.
    """

    chain_id: str = Field(primary_key=True, max_length=40)
    seq: int = Field(primary_key=True)  # the entry's position in its chain, from 1
    at: datetime = Field(sa_column=_instant())
    actor_kind: str = Field(max_length=30)
    actor_id: str = Field(max_length=80)
    institution_id: str | None = Field(default=None, max_length=80)
    on_behalf_of: str | None = Field(default=None, max_length=40)
    person_id: str | None = Field(default=None, max_length=40)
    action: str = Field(max_length=40)
    resource_id: str | None = Field(default=None, max_length=80)
    allowed: bool
    reason: str = Field(max_length=60)
    consent_id: str | None = Field(default=None, max_length=40)
    request_id: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)


class AuditChain(SQLModel, table=True):
    """One chain's tip: its length and last entry's hash. An append locks only the row of
    the chain it extends (``FOR UPDATE``), so decisions about different people never wait
    for each other, and no chain forks."""

    chain_id: str = Field(primary_key=True, max_length=40)
    length: int = 0
    head_hash: str = Field(max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """A signed commitment to every chain's (id, length, head hash) at one moment: the
    root of an RFC 9162 Merkle tree over them, signed ES256 (``kid``: the keyring's
    checkpoint key, published with the JWKS), chained to the checkpoint before."""

    number: int = Field(primary_key=True)
    made_at: datetime = Field(sa_column=_instant())
    tree_size: int
    root_hash: str = Field(max_length=64)
    prev_root_hash: str = Field(max_length=64)
    kid: str = Field(max_length=40)
    signature: str = Field(max_length=120)  # base64url of the raw r ‖ s (64 bytes)


class AuditCheckpointLeaf(SQLModel, table=True):
    """A chain's (length, head hash) as checkpoint ``number`` saw it — stored only for
    chains that changed since the checkpoint before (a leaf set is, per chain, its row of
    the highest number up to the checkpoint's)."""

    chain_id: str = Field(primary_key=True, max_length=40)
    number: int = Field(primary_key=True)
    length: int
    head_hash: str = Field(max_length=64)


# --- consents, sessions and grants ------------------------------------------------------
# Codes, passcodes and OTPs are stored only as SHA-256 hashes (they are high-entropy and
# compared in constant time); free-text reasons are sealed with the person's data key.


class SharingConsent(SQLModel, table=True):
    """Lets a Hong Kong institution's professionals view (R3). ``one_year`` or ``indefinite``."""

    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(foreign_key="institution.id", max_length=80)
    kind: str = Field(max_length=20)
    scopes: str = Field(max_length=60)  # comma-separated: ehr,personal_folder
    granted_at: datetime = Field(sa_column=_instant())
    expires_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    granted_by: str = Field(max_length=40)


class CrossBorderAuthorisation(SQLModel, table=True):
    """A person's application for a cross-border record at one Mainland institution (R4).
    Opening a session finds it by ``application_code_hash`` alone (a fan-out over the
    index: the code is all the professional holds)."""

    __table_args__ = (UniqueConstraint("person_id", "application_code_hash"),)

    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(foreign_key="institution.id", max_length=80)
    application_code_hash: str = Field(max_length=64, index=True)
    passcode_hash: str = Field(max_length=64)
    issued_at: datetime = Field(sa_column=_instant())
    usable_from: datetime = Field(sa_column=_instant())
    expires_at: datetime = Field(sa_column=_instant())
    revoked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    failed_attempts: int = 0
    locked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    granted_by: str = Field(max_length=40)
    # The two codes again, sealed with the person's data key (AAD-bound to this row), so
    # the person can fetch their QR codes later; lookups use only the hashes above.
    application_code_sealed: bytes | None = Field(default=None, sa_column=_sealed(nullable=True))
    passcode_sealed: bytes | None = Field(default=None, sa_column=_sealed(nullable=True))


class ViewingSession(SQLModel, table=True):
    """Opened by a Mainland professional with a valid (application code, passcode) pair.
    Its id is a handle (:class:`Handle`): the professional holds nothing else."""

    __table_args__ = (
        ForeignKeyConstraint(
            ["person_id", "authorisation_id"],
            ["crossborderauthorisation.person_id", "crossborderauthorisation.id"],
        ),
    )

    person_id: str = Field(primary_key=True, foreign_key="person.id", max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    authorisation_id: str = Field(index=True, max_length=40)
    institution_id: str = Field(max_length=80)
    professional_id: str = Field(foreign_key="professional.id", max_length=40)
    opened_at: datetime = Field(sa_column=_instant())
    expires_at: datetime = Field(sa_column=_instant())


class RadiologyAuthorisation(SQLModel, table=True):
    """Lets a designated radiology depositor add one visit's study to the folder (R5).
    Opening a deposit finds it by ``code_hash`` alone (a fan-out over the index)."""

    __table_args__ = (UniqueConstraint("person_id", "code_hash"),)

    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(foreign_key="institution.id", max_length=80)
    code_hash: str = Field(max_length=64, index=True)
    issued_at: datetime = Field(sa_column=_instant())
    expires_at: datetime = Field(sa_column=_instant())
    revoked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    used_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    granted_by: str = Field(max_length=40)
    # The code again, sealed with the person's data key (AAD-bound to this row), for the
    # person's QR code; lookups use only ``code_hash``.
    code_sealed: bytes | None = Field(default=None, sa_column=_sealed(nullable=True))


class RestrictedAccessRequest(SQLModel, table=True):
    """An HK professional's request to open restricted categories; a grant once the
    person's OTP confirms it (R3)."""

    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(max_length=80)
    professional_id: str = Field(foreign_key="professional.id", max_length=40)
    categories: str = Field(max_length=400)  # comma-separated
    consent_id: str | None = Field(default=None, max_length=40)  # None: implied sharing
    reason_sealed: bytes = Field(sa_column=_sealed())
    otp_hash: str = Field(max_length=64)
    requested_at: datetime = Field(sa_column=_instant())
    otp_expires_at: datetime = Field(sa_column=_instant())
    failed_attempts: int = 0
    locked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    confirmed_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class CaregiverDelegation(SQLModel, table=True):
    """A caregiver acting for a person (R2); never delegable further."""

    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    caregiver_id: str = Field(foreign_key="person.id", index=True, max_length=40)
    granted_at: datetime = Field(sa_column=_instant())
    expires_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class Notification(SQLModel, table=True):
    """The simulated SMS/e-mail to a person: who viewed, when. No health data."""

    person_id: str = Field(primary_key=True, foreign_key="person.id", index=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    at: datetime = Field(sa_column=_instant())
    channel: str = Field(max_length=10)
    event: str = Field(max_length=40)
    actor_kind: str = Field(max_length=30)
    actor_id: str = Field(max_length=80)
    institution_id: str | None = Field(default=None, max_length=80)
    audit_seq: int | None = None
    # e.g. an OTP for the person: sealed with their data key, shown only to them
    detail_sealed: bytes | None = Field(default=None, sa_column=_sealed(nullable=True))


class InstitutionCredential(SQLModel, table=True):
    """An institution's OAuth client, stored argon2id-hashed. ``kind``: ``admin`` (the
    institution's admin client: manages its professionals and client credentials, reads
    no person's data) or ``client`` (mints its professionals' tokens)."""

    client_id: str = Field(primary_key=True, max_length=60)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=80)
    kind: str = Field(default="client", max_length=12)
    secret_hash: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=_instant())
    revoked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class AttemptCounter(SQLModel, table=True):
    """Failed guesses per (scope, key), e.g. passcode attempts per client; lock-outs."""

    scope: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=120)
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    lockouts: int = 0  # locks so far: a login lock grows with each one
    # When the failures counted now began (they are counted within the limit's window).
    window_start: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class CredentialProposal(SQLModel, table=True):
    """One operator's proposal to give an institution its (first or next) admin
    credential; another operator approves it before it expires (four eyes, R9)."""

    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=80)
    proposed_by: str = Field(max_length=80)
    proposed_at: datetime = Field(sa_column=_instant())
    expires_at: datetime = Field(sa_column=_instant())
    decided_by: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    state: str = Field(default="pending", max_length=12)  # pending, approved, withdrawn


class BreakGlassAccess(SQLModel, table=True):
    """An emergency access (where the policy enables break-glass): a stated reason
    (sealed), a short time box, notified at once and listed for the operator's review."""

    person_id: str = Field(primary_key=True, foreign_key="person.id", max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(max_length=80)
    professional_id: str = Field(max_length=40)
    justification_sealed: bytes = Field(sa_column=_sealed())
    justification_length: int
    started_at: datetime = Field(sa_column=_instant())
    expires_at: datetime = Field(sa_column=_instant())
    reviewed_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))
    reviewed_by: str | None = Field(default=None, max_length=80)


class Handle(SQLModel, table=True):
    """The directory of handles: an id a caller holds without its person (a viewing
    session's, a radiology deposit's), naming the person it belongs to. Written with the
    handle, never changed; read first, by ``id`` alone, to route the request to the
    person's rows — the one lookup whose key is not the person (distributed by ``id``).
    ``kind``: ``viewing_session`` or ``radiology_deposit``."""

    id: str = Field(primary_key=True, max_length=40)
    person_id: str = Field(max_length=40)
    kind: str = Field(max_length=20)


class SmartClient(SQLModel, table=True):
    """An institution's SMART Backend Services client (``client-confidential-asymmetric``):
    registered by the institution's admin client with the public JWK set its assertions
    are verified with (public keys only; never a secret)."""

    client_id: str = Field(primary_key=True, max_length=60)
    institution_id: str = Field(foreign_key="institution.id", index=True, max_length=80)
    jwks: str = Field(max_length=20000)  # the public JWK set, as registered (JSON)
    created_at: datetime = Field(sa_column=_instant())
    revoked_at: datetime | None = Field(default=None, sa_column=_instant(nullable=True))


class ClientAssertionUse(SQLModel, table=True):
    """A client assertion's ``jti`` once accepted: a second use is a replay. Kept until the
    assertion's ``exp`` (it could not be used after that anyway)."""

    client_id: str = Field(primary_key=True, max_length=60)
    jti: str = Field(primary_key=True, max_length=200)
    expires_at: datetime = Field(sa_column=_instant())
