"""The Personal Folder (R6): the person (or their caregiver) files a record from treatment
outside Hong Kong."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import CitizenCaller, ServicesDep, subject_of
from api.routes.records import public
from api.schemas import RecordCreate, RecordPublic
from policies.vocabulary import Action, Source
from vault.records.reading import RecordView
from vault.records.sealed import NewRecord

router = APIRouter(tags=["citizen"])


@router.post(
    "/v1/me/folder",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordPublic,
)
def add_to_folder(body: RecordCreate, services: ServicesDep, caller: CitizenCaller) -> RecordPublic:
    """File a record from treatment outside Hong Kong into the Personal Folder (R6)."""
    new = NewRecord(
        category=str(body.category),
        source=str(Source.PERSONAL_FOLDER),
        clinical_date=body.clinical_date,
        title=body.title,
        content=body.content.encode(),
        content_type=body.content_type,
    )
    stored = services.records.deposit(caller, subject_of(caller), new, Action.ADD_TO_FOLDER)
    return public(RecordView(stored, body.title))
