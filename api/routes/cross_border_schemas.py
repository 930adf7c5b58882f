"""Bodies of the cross-border viewing and restricted-access endpoints, and the problem
details they document. Requests forbid unknown fields; responses never carry codes,
passcodes, OTPs or their hashes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas import Strict, example
from policies.vocabulary import Category

# --- cross-border viewing sessions ------------------------------------------------------


class ViewingSessionCreate(Strict):
    model_config = example(application_code="CB-7KQ2-M9XD-4HPA-T3WE", passcode="PC-8N6R-2JVK")
    application_code: str = Field(min_length=1, max_length=100)
    passcode: str = Field(min_length=1, max_length=100)


class ViewingSessionPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "5f0c2b8e9d3a4c71b6e2f4a8d9c01234",
                    "person_id": "0b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e",
                    "expires_at": "2026-03-02T04:00:00Z",
                    "visible_since": "2023-03-02",
                }
            ]
        }
    )
    session_id: str
    person_id: str
    expires_at: datetime
    visible_since: date


# --- restricted access ------------------------------------------------------------------

StatedReason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)
]


class RestrictedAccessCreate(Strict):
    model_config = example(
        reason="Pre-operative review: need the radiology report of the hip.",
        categories=["radiology_report"],
    )
    reason: StatedReason
    categories: list[Category] = Field(min_length=1, max_length=len(Category))


class RestrictedAccessPending(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9a8b7c6d5e4f30211203f4e5d6c7b8a9",
                    "categories": ["radiology_report"],
                    "otp_expires_at": "2026-03-02T02:10:00Z",
                }
            ]
        }
    )
    id: str
    categories: list[Category]
    otp_expires_at: datetime


class RestrictedAccessConfirm(Strict):
    model_config = example(otp="042917")
    otp: str = Field(pattern=r"^[0-9]{6}$")


class RestrictedAccessGrantPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9a8b7c6d5e4f30211203f4e5d6c7b8a9",
                    "categories": ["radiology_report"],
                    "expires_at": "2026-03-02T02:35:00Z",
                }
            ]
        }
    )
    id: str
    categories: list[Category]
    expires_at: datetime


# --- problem details, for the OpenAPI document ------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
    },
}


PROFESSIONAL_ANSWERS: tuple[tuple[int, str, str], ...] = (
    (401, "invalid_token", "No valid bearer token."),
    (403, "wrong_role", "Not a professional's token."),
    (422, "validation_failed", "The request does not match the schema."),
)


def problems(*answers: tuple[int, str, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: :data:`PROFESSIONAL_ANSWERS` plus ``(status, code,
    description)`` answers, as problem+json; answers sharing a status are listed together.
    (Documenting 422 here also keeps FastAPI from adding its own non-problem schema.)"""
    by_status: dict[int, list[tuple[str, str]]] = {}
    for status, code, description in (*PROFESSIONAL_ANSWERS, *answers):
        by_status.setdefault(status, []).append((code, description))
    return {
        status: {
            "description": "; ".join(f"`{code}`: {text}" for code, text in listed),
            "content": {
                "application/problem+json": {
                    "schema": PROBLEM_SCHEMA,
                    "examples": {
                        code: {
                            "value": {
                                "type": f"https://crossvault.example/problems/{code}",
                                "title": text,
                                "status": status,
                                "code": code,
                            }
                        }
                        for code, text in listed
                    },
                }
            },
        }
        for status, listed in sorted(by_status.items())
    }
