"""Bodies of the citizen's account endpoints (``/v1/me/...``). Requests forbid unknown
fields and carry an example; responses never carry hashes or sealed fields, and codes
appear only in the ``...Issued`` answers to a create."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from api.schemas import CheckpointPublic, example
from policies.vocabulary import ConsentKind, Source
from vault.cross_border.authorisations import CrossBorderStatus
from vault.radiology.authorisations import RadiologyStatus

_ID = Field(min_length=1, max_length=80)
_EXAMPLE_TIME = "2026-03-02T02:00:00Z"


def _response_example(**values: JsonValue) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


# --- sharing consents --------------------------------------------------------------------


class SharingConsentSwitch(BaseModel):
    model_config = example(kind="indefinite")
    kind: ConsentKind


class SharingConsentPublic(BaseModel):
    model_config = _response_example(
        id="5f0c6a1e9b8d4c2f8a7e6d5c4b3a2910",
        institution_id="hksh",
        kind="one_year",
        scopes=["ehr", "personal_folder"],
        granted_at=_EXAMPLE_TIME,
        expires_at="2027-03-02T02:00:00Z",
        revoked_at=None,
        active=True,
    )
    id: str
    institution_id: str
    kind: ConsentKind
    scopes: list[Source]
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class SharingConsentList(BaseModel):
    items: list[SharingConsentPublic]


# --- cross-border authorisations ---------------------------------------------------------


class CrossBorderAuthorisationCreate(BaseModel):
    model_config = example(institution_id="hku_sz")
    institution_id: str = _ID


class CrossBorderAuthorisationIssued(BaseModel):
    """The answer to an application: the only time the codes are sent in text."""

    model_config = _response_example(
        id="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        institution_id="hku_sz",
        application_code="CB-7KQ2-M9XD-4HTW-PZ3E",
        passcode="PC-R8NV-2JXK-Q7MB-5TCE-W9HA-3FLG",
        issued_at=_EXAMPLE_TIME,
        usable_from=_EXAMPLE_TIME,
        expires_at="2026-04-01T02:00:00Z",
    )
    id: str
    institution_id: str
    application_code: str
    passcode: str
    issued_at: datetime
    usable_from: datetime
    expires_at: datetime


class CrossBorderAuthorisationPublic(BaseModel):
    model_config = _response_example(
        id="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        institution_id="hku_sz",
        issued_at=_EXAMPLE_TIME,
        usable_from=_EXAMPLE_TIME,
        expires_at="2026-04-01T02:00:00Z",
        revoked_at=None,
        status="active",
    )
    id: str
    institution_id: str
    issued_at: datetime
    usable_from: datetime
    expires_at: datetime
    revoked_at: datetime | None
    status: CrossBorderStatus


class CrossBorderAuthorisationList(BaseModel):
    items: list[CrossBorderAuthorisationPublic]


# --- radiology authorisations ------------------------------------------------------------


class RadiologyAuthorisationCreate(BaseModel):
    model_config = example(institution_id="hku_sz")
    institution_id: str = _ID


class RadiologyAuthorisationIssued(BaseModel):
    """The answer to a radiology authorisation: the only time the code is sent in text."""

    model_config = _response_example(
        id="9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        institution_id="hku_sz",
        authorisation_code="RA-H4KD-9QWE-2MZT-7PXB-V3NC-8RJF",
        issued_at=_EXAMPLE_TIME,
        expires_at="2026-03-16T02:00:00Z",
    )
    id: str
    institution_id: str
    authorisation_code: str
    issued_at: datetime
    expires_at: datetime


class RadiologyAuthorisationPublic(BaseModel):
    model_config = _response_example(
        id="9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        institution_id="hku_sz",
        issued_at=_EXAMPLE_TIME,
        expires_at="2026-03-16T02:00:00Z",
        revoked_at=None,
        used_at=None,
        status="active",
    )
    id: str
    institution_id: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    used_at: datetime | None
    status: RadiologyStatus


class RadiologyAuthorisationList(BaseModel):
    items: list[RadiologyAuthorisationPublic]


# --- caregivers --------------------------------------------------------------------------


class CaregiverCreate(BaseModel):
    model_config = example(
        caregiver_id="3c9a7e21d04b4f6e8a5b2c1d0e9f8a7b", expires_at="2027-03-02T00:00:00+08:00"
    )
    caregiver_id: str = Field(min_length=1, max_length=40)
    expires_at: AwareDatetime | None = None


class CaregiverPublic(BaseModel):
    model_config = _response_example(
        id="7b6a5c4d3e2f10a9b8c7d6e5f4a3b2c1",
        caregiver_id="3c9a7e21d04b4f6e8a5b2c1d0e9f8a7b",
        granted_at=_EXAMPLE_TIME,
        expires_at="2027-03-01T16:00:00Z",
        revoked_at=None,
        active=True,
    )
    id: str
    caregiver_id: str
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class CaregiverList(BaseModel):
    items: list[CaregiverPublic]


# --- the access log and notifications ----------------------------------------------------


class AccessLogEntry(BaseModel):
    """One audited decision about the person: who asked (and for whom), what, the answer."""

    model_config = _response_example(
        seq=42,
        at=_EXAMPLE_TIME,
        actor_kind="hk_professional",
        actor_id="1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a",
        institution_id="hksh",
        on_behalf_of=None,
        action="read_record",
        resource_id="8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d",
        allowed=True,
        reason="sharing_consent",
        consent_id="5f0c6a1e9b8d4c2f8a7e6d5c4b3a2910",
        request_id="0b1c2d3e4f5a69788796a5b4c3d2e1f0",
        prev_hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        entry_hash="60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
    )
    seq: int
    at: datetime
    actor_kind: str
    actor_id: str
    institution_id: str | None
    on_behalf_of: str | None
    action: str
    resource_id: str | None
    allowed: bool
    reason: str
    consent_id: str | None
    request_id: str | None
    prev_hash: str  # the entry before it in the person's chain (docs/audit.md)
    entry_hash: str


class ChainHead(BaseModel):
    """The person's own audit chain now (its id is the person's): its length and its last
    entry's hash."""

    person_id: str
    length: int
    head_hash: str


class InclusionProof(BaseModel):
    """The person's chain as the latest checkpoint covered it (``leaf_length``,
    ``leaf_head_hash``) and the RFC 9162 inclusion path (hex, from the leaf up) of that
    leaf at ``leaf_index`` into the checkpoint's signed root (``docs/audit.md``)."""

    checkpoint: CheckpointPublic
    leaf_index: int
    leaf_length: int
    leaf_head_hash: str
    path: list[str]


class AccessLogPage(BaseModel):
    items: list[AccessLogEntry]
    next_cursor: str | None
    chain: ChainHead
    checkpoint_proof: InclusionProof | None  # none until a checkpoint covers the chain


class NotificationPublic(BaseModel):
    """A simulated SMS/e-mail to the person. ``detail`` (e.g. an OTP) only when one was
    sealed for them."""

    model_config = _response_example(
        id="2a3b4c5d6e7f8091a2b3c4d5e6f70819",
        at=_EXAMPLE_TIME,
        channel="sms",
        event="read_record",
        actor_kind="mainland_professional",
        actor_id="6f5e4d3c2b1a09f8e7d6c5b4a3928170",
        institution_id="hku_sz",
        detail=None,
    )
    id: str
    at: datetime
    channel: str
    event: str
    actor_kind: str
    actor_id: str
    institution_id: str | None
    detail: str | None


class NotificationPage(BaseModel):
    items: list[NotificationPublic]
    next_cursor: str | None


# --- problem details, for the OpenAPI document -------------------------------------------

PROBLEM_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "reason": {"type": "string"},
    },
}
Answer = tuple[int, str, str]  # (status, problem code, when)
_INVISIBLE = (
    "No such resource, or not the caller's (R10) — also for a caregiver without an "
    "active delegation and for an unknown On-Behalf-Of person."
)
CITIZEN_ANSWERS: tuple[Answer, ...] = (
    (401, "invalid_token", "No valid bearer token."),
    (403, "wrong_role", "Not a citizen token."),
    (404, "not_found", _INVISIBLE),
    (422, "validation_failed", "The request does not match the schema."),
)


def problem_answers(*answers: Answer) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: the citizen answers plus ``answers``, as problem+json with
    one example per code."""
    by_status: dict[int, list[tuple[str, str]]] = {}
    for status, code, when in (*CITIZEN_ANSWERS, *answers):
        by_status.setdefault(status, []).append((code, when))
    return {
        status: {
            "description": " ".join(f"`{code}`: {when}" for code, when in listed),
            "content": {
                "application/problem+json": {
                    "schema": PROBLEM_JSON_SCHEMA,
                    "examples": {
                        code: {
                            "value": {
                                "type": f"https://crossvault.example/problems/{code}",
                                "title": when,
                                "status": status,
                                "code": code,
                            }
                        }
                        for code, when in listed
                    },
                }
            },
        }
        for status, listed in sorted(by_status.items())
    }
