"""Reading and depositing records: Hong Kong providers here, and what every record route
shares (the person's own routes are in :mod:`api.routes.me.records`, a Mainland session's
in :mod:`api.routes.cross_border`). Every path goes through the policy; a hidden record is
the same 404 as a missing one (R10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from pydantic import BaseModel, Field, model_validator

from api.deps import ProfessionalCaller, ServicesDep
from api.headers import content_headers
from api.routes.radiology import stream_blob
from api.schemas import RecordCreate, RecordPage, RecordPublic, unvalidated
from policies.vocabulary import Action, Category, Source
from vault.access.judge import Caller
from vault.records.reading import PersonLookup, RecordQuery, RecordView
from vault.records.sealed import NewRecord

router = APIRouter()


def public(view: RecordView) -> RecordPublic:
    """The record as the API shows it. Built without validating again: every field comes
    typed from the vault's row."""
    r = view.record
    return unvalidated(
        RecordPublic,
        {
            "id": r.id,
            "category": r.category,
            "source": r.source,
            "clinical_date": r.clinical_date,
            "title": view.title,
            "depositor_institution_id": r.depositor_institution_id,
            "content_type": r.content_type,
            "size": r.size,
            "damaged": view.damaged,
        },
    )


class RecordFilters(BaseModel):
    """The filters every record list takes; they narrow what the policy lets the caller
    see, never widen it."""

    category: Category | None = Field(default=None, description="Only this category.")
    source: Source | None = Field(default=None, description="Only this source.")
    since: date | None = Field(default=None, description="Clinical dates on or after this.")
    until: date | None = Field(default=None, description="Clinical dates on or before this.")
    limit: int = Field(default=50, ge=1, le=200, description="At most this many items.")
    cursor: str | None = Field(
        default=None, max_length=200, description="A `next_cursor` of the previous page."
    )

    @model_validator(mode="after")
    def _a_range_that_can_hold_something(self) -> RecordFilters:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since lies after until")
        return self


async def record_query(filters: Annotated[RecordFilters, Query()]) -> RecordQuery:
    return RecordQuery(
        category=filters.category,
        source=filters.source,
        since=filters.since,
        until=filters.until,
        limit=filters.limit,
        cursor=filters.cursor,
    )


RecordQueryDep = Annotated[RecordQuery, Depends(record_query)]
"""The list filters every record list takes (category, source, since, until, limit, cursor)."""


def page_of(
    services: ServicesDep,
    caller: Caller,
    person: str | PersonLookup,
    query: RecordQuery,
    session_id: str | None = None,
) -> Response:
    """A page of records as JSON, serialised once here rather than validated again
    against ``response_model``."""
    listed = services.records.list(caller, person, query, session_id=session_id)
    page = RecordPage.model_construct(
        items=[public(v) for v in listed.items], next_cursor=listed.next_cursor
    )
    return Response(page.model_dump_json(), media_type="application/json")


RangeHeader = Annotated[str | None, Header(alias="Range", max_length=200)]


@dataclass(frozen=True)
class RecordAt:
    """Which record: of which person, and through which viewing session (if any)."""

    person_id: str
    record_id: str
    session_id: str | None = None


def content_of(
    services: ServicesDep, caller: Caller, at: RecordAt, range_header: str | None = None
) -> Response:
    """A record's content: inline, or a radiology study streamed with ``Range``."""
    opened = services.records.content(caller, at.person_id, at.record_id, session_id=at.session_id)
    if opened.record.blob_name is not None:  # a radiology study: streamed, with Range
        blob = services.records.blob(caller, opened, session_id=at.session_id)
        return stream_blob(blob, range_header, opened.record.content_type)
    media_type = opened.record.content_type
    return Response(opened.content, media_type=media_type, headers=content_headers(media_type))


# --- Hong Kong providers (R3) -----------------------------------------------------------


@router.post(
    "/v1/patients/{pid}/records",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordPublic,
    tags=["hk-professional"],
)
def deposit_ehr(
    pid: str, body: RecordCreate, services: ServicesDep, caller: ProfessionalCaller
) -> RecordPublic:
    """Deposit an eHR for a person who has joined eHealth."""
    new = NewRecord(
        category=str(body.category),
        source=str(Source.EHR),
        clinical_date=body.clinical_date,
        title=body.title,
        content=body.content.encode(),
        content_type=body.content_type,
        depositor_institution_id=caller.actor.institution_id,
        depositor_professional_id=caller.actor.professional_id,
    )
    stored = services.records.deposit(caller, pid, new, Action.DEPOSIT_RECORD)
    return public(RecordView(stored, body.title))


@router.get("/v1/patients/{pid}/records", response_model=RecordPage, tags=["hk-professional"])
def patient_records(
    pid: str,
    services: ServicesDep,
    caller: ProfessionalCaller,
    query: RecordQueryDep,
) -> Response:
    """The person's records this provider may see (R3), newest first; hidden ones are
    neither listed nor counted (R10)."""
    return page_of(services, caller, pid, query)


@router.get(
    "/v1/patients/{pid}/records/{record_id}", response_model=RecordPublic, tags=["hk-professional"]
)
def patient_record(
    pid: str, record_id: str, services: ServicesDep, caller: ProfessionalCaller
) -> RecordPublic:
    """One record, if the provider may see it; otherwise the same 404 as a missing one."""
    return public(services.records.get(caller, pid, record_id))


@router.get(
    "/v1/patients/{pid}/records/{record_id}/content",
    tags=["hk-professional"],
    response_class=Response,
    responses={200: {"content": {"*/*": {}}}},
)
def patient_record_content(
    pid: str,
    record_id: str,
    services: ServicesDep,
    caller: ProfessionalCaller,
    range_header: RangeHeader = None,
) -> Response:
    """A record's decrypted content, if the provider's consent covers it (R3)."""
    return content_of(services, caller, RecordAt(pid, record_id), range_header)
