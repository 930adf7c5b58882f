"""The person's own records (R1), or the cared-for person's (R2): list, read, content."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CitizenCaller, ServicesDep, subject_of
from api.routes.records import RangeHeader, RecordAt, RecordQueryDep, content_of, page_of, public
from api.schemas import RecordPage, RecordPublic

router = APIRouter(tags=["citizen"])


@router.get("/v1/me/records", response_model=RecordPage)
def my_records(
    services: ServicesDep,
    caller: CitizenCaller,
    query: RecordQueryDep,
) -> Response:
    """The person's own records, newest first (filters: category, source, since, until)."""
    return page_of(services, caller, subject_of(caller), query)


@router.get("/v1/me/records/{record_id}", response_model=RecordPublic)
def my_record(record_id: str, services: ServicesDep, caller: CitizenCaller) -> RecordPublic:
    """One of the person's records (metadata and title)."""
    return public(services.records.get(caller, subject_of(caller), record_id))


@router.get(
    "/v1/me/records/{record_id}/content",
    response_class=Response,
    responses={200: {"content": {"*/*": {}}}},
)
def my_record_content(
    record_id: str, services: ServicesDep, caller: CitizenCaller, range_header: RangeHeader = None
) -> Response:
    """The record's decrypted content; radiology studies stream, with HTTP Range."""
    return content_of(services, caller, RecordAt(subject_of(caller), record_id), range_header)
