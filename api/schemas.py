"""Request and response bodies. Requests forbid unknown fields; responses never carry
ciphertext fields or hashes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from policies.vocabulary import Category, ConsentKind, Profession, Source
from vault.store.tables import AuditCheckpoint


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def example(**values: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


Model = TypeVar("Model", bound=BaseModel)


def unvalidated(model: type[Model], fields: dict[str, Any]) -> Model:
    """What ``model.model_construct(**fields)`` builds (the same instance, the same JSON)
    for ``fields`` that name every field, already typed, at a third of its cost (about 2
    against 6 µs): a page lists fifty records. ``tests/api/test_schemas.py`` checks that
    the two stay equal."""
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", fields)
    object.__setattr__(instance, "__pydantic_fields_set__", set(fields))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


# --- operator -----------------------------------------------------------------------


class PersonCreate(Strict):
    model_config = example(
        name="Chan Tai Man",
        date_of_birth="1952-04-18",
        password="correct horse battery staple",
        joined=True,
    )
    name: str = Field(min_length=1, max_length=200)
    date_of_birth: date
    password: str = Field(min_length=8, max_length=256)
    joined: StrictBool = True  # ``0`` or ``"yes"`` is a 422, never coerced


class WithdrawalRequest(Strict):
    """Your own password again (a caregiver: theirs), and the word ``withdraw``: leaving
    erases everything and cannot be undone."""

    model_config = example(password="correct horse battery staple", confirm="withdraw")
    password: str = Field(min_length=1, max_length=256)
    confirm: Literal["withdraw"]


class Created(BaseModel):
    id: str


class ProfessionalCreate(Strict):
    model_config = example(name="Dr Wong Ka Yan", profession="doctor")
    name: str = Field(min_length=1, max_length=200)
    profession: Profession


class CredentialsCreated(BaseModel):
    client_id: str
    client_secret: str


class InstitutionPublic(BaseModel):
    id: str
    name: str
    region: str
    kind: str
    implied_sharing: bool
    designated_on: date | None
    radiology_depositor_from: date | None
    voucher_from: date | None = None
    voucher_service_points: int = 0
    ha_pilot_from: date | None = None
    credentials_changed_at: datetime | None = Field(
        default=None, description="When its admin or client credentials last changed."
    )


MAX_ADVANCE_SECONDS = 100 * 366 * 86400  # a century: the simulated clock's whole range


class ClockSet(Strict):
    model_config = example(set_to="2026-02-01T09:00:00+08:00")
    set_to: datetime | None = None
    advance_seconds: float | None = Field(
        default=None, strict=True, ge=0, le=MAX_ADVANCE_SECONDS, allow_inf_nan=False
    )


class ClockState(BaseModel):
    now: datetime


class RotationResult(BaseModel):
    version: int
    rewrapped: int
    resumed: bool
    retired_versions: list[int]


class AuditVerification(BaseModel):
    """Every chain entry by entry, then every checkpoint; the first problem is named."""

    valid: bool
    entries: int
    chains: int
    first_bad_chain: str | None
    first_bad_seq: int | None
    problem: str | None
    checkpoints: int
    bad_checkpoint: int | None
    description: str


class CheckpointPublic(BaseModel):
    """A signed checkpoint: the RFC 9162 Merkle root over every audit chain's (id, length,
    head hash). ``signature``: ES256, base64url ``r || s``, by the JWKS key ``kid``, over
    the UTF-8 lines ``crossvault audit checkpoint v1``, number, made_at (ISO 8601, as
    given), tree_size, root_hash, prev_root_hash, kid — joined by newlines."""

    number: int
    made_at: str
    tree_size: int
    root_hash: str
    prev_root_hash: str
    kid: str
    signature: str

    @classmethod
    def of(cls, row: AuditCheckpoint) -> CheckpointPublic:
        return cls(
            number=row.number,
            made_at=row.made_at.isoformat(),
            tree_size=row.tree_size,
            root_hash=row.root_hash,
            prev_root_hash=row.prev_root_hash,
            kid=row.kid,
            signature=row.signature,
        )


class CheckpointPage(BaseModel):
    items: list[CheckpointPublic]
    next_cursor: str | None


# --- records ------------------------------------------------------------------------


class RecordCreate(Strict):
    model_config = example(
        category="lab_report",
        clinical_date="2025-06-01",
        title="Glycated haemoglobin",
        content="HbA1c 6.1%",
        content_type="text/plain",
    )
    category: Category
    clinical_date: date
    title: str = Field(min_length=1, max_length=500)
    content: str = Field(max_length=1_000_000)
    content_type: str = Field(
        default="text/plain", max_length=120, pattern=r"^[\w.+-]+/[\w.+-]+(;\s*[\w-]+=[\w.-]+)*$"
    )


class RecordPublic(BaseModel):
    id: str
    category: str
    source: str
    clinical_date: date
    title: str | None = Field(
        description="The record's title; null when it failed its integrity check (see damaged)."
    )
    depositor_institution_id: str | None
    content_type: str
    size: int
    damaged: bool = Field(
        default=False,
        description="The stored record failed its integrity check: it is listed, not shown.",
    )


class RecordPage(BaseModel):
    items: list[RecordPublic]
    next_cursor: str | None


class Me(BaseModel):
    id: str
    name: str
    date_of_birth: date
    joined: bool
    acting_as_caregiver_for: str | None = None


# --- consents -----------------------------------------------------------------------


class SharingConsentCreate(Strict):
    model_config = example(
        institution_id="hksh", kind="one_year", scopes=["ehr", "personal_folder"]
    )
    institution_id: str = Field(max_length=80)
    kind: ConsentKind
    scopes: list[Source] = Field(min_length=1, max_length=2)
