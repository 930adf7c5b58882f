"""``Patient``, ``DocumentReference`` and ``Binary``: the person and their records, read
through :class:`~vault.records.reading.Records` and :class:`~vault.account.profile.Account`
exactly as the REST routes read them (one decision, audited before anything is shown).

A person or a record the caller may not see is the same 404 ``OperationOutcome`` as one
that does not exist; a search about such a person is an empty searchset, the same as for a
person who does not exist (the refusal is audited all the same).
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from api.deps import ServicesDep
from api.fhir import resources
from api.fhir.bundles import searchset
from api.fhir.caller import FhirCaller, FhirCallerDep
from api.fhir.outcome import FHIR_BASE, FHIR_JSON, fhir_response
from api.fhir.search import Search, date_range, invalid, parse, reference, token, updated_range
from api.routes.records import RecordAt, content_of
from api.services import Services
from policies.dates import HONG_KONG
from policies.vocabulary import Action, Category
from vault.account.profile import Account
from vault.core.errors import NotFound
from vault.records.reading import RecordList, RecordQuery

router = APIRouter(tags=["fhir"], include_in_schema=False)  # see routes.py
_DOCUMENT_PARAMS = frozenset({"patient", "subject", "category", "date", "_lastUpdated"})
_PATIENT_PARAMS = frozenset({"_id"})


def _patient(services: Services, fc: FhirCaller, person_id: str) -> dict[str, object]:
    caller = fc.about(person_id)
    if fc.professional is None:
        return resources.patient(person_id, Account(services.judge).profile(caller, person_id))
    # A professional sees that the person exists for them only as far as their access to
    # the person's records goes: one decided (and audited) list of at most one record.
    session_id = fc.session_for(services, person_id, Action.LIST_RECORDS)
    services.records.list(caller, person_id, RecordQuery(limit=1), session_id=session_id)
    return resources.patient(person_id, None)


@router.get(f"{FHIR_BASE}/Patient/{{pid}}", summary="Read a Patient")
def read_patient(pid: str, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """The person: name, birth date and whether they joined, to the person and their
    caregivers; the id only, to a professional whose access covers them."""
    fc.require("Patient", "r")
    return fhir_response(_patient(services, fc, pid))


@router.get(f"{FHIR_BASE}/Patient", summary="Search Patient")
def search_patient(request: Request, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """``_id``, or (without it) the caller themselves / their viewing session's person."""
    fc.require("Patient", "s")
    search = parse(request.query_params, _PATIENT_PARAMS)
    given = search.values.get("_id")
    found: list[dict[str, object]] = []
    try:
        person = (
            reference(given, "Patient")
            if given
            else fc.default_person(services, Action.LIST_RECORDS)
        )
        if person is not None:
            found.append(_patient(services, fc, person))
    except NotFound:
        pass
    return fhir_response(searchset(request, found, None))


def _record_query(search: Search) -> RecordQuery:
    since, until = date_range(search.dates)
    category = search.values.get("category")
    if category is not None:
        category = token(category, resources.CATEGORY_SYSTEM)
        if category not in set(Category):
            raise invalid("unknown_category", "category is one of the record categories.")
    return RecordQuery(
        category=category,
        since=since,
        until=until,
        created=updated_range(search.last_updated, HONG_KONG),
        limit=search.count,
        cursor=search.cursor,
    )


def _searched_person(services: Services, fc: FhirCaller, search: Search) -> str:
    given = search.values.get("patient") or search.values.get("subject")
    if "patient" in search.values and "subject" in search.values:
        raise invalid("repeated_parameter", "Give patient or subject, not both.")
    if given is not None:
        return reference(given, "Patient")
    person = fc.default_person(services, Action.LIST_RECORDS)
    if person is None:
        raise invalid("patient_required", "Name the patient (patient=Patient/<id>).")
    return person


@router.get(f"{FHIR_BASE}/DocumentReference", summary="Search DocumentReference")
def search_documents(request: Request, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """The person's records the caller may see, newest first: ``patient``, ``category``,
    ``date`` (``ge``/``le``/``eq``, the clinical date), ``_count``; paged by ``next``."""
    fc.require("DocumentReference", "s")
    search = parse(request.query_params, _DOCUMENT_PARAMS)
    query = _record_query(search)
    person = _searched_person(services, fc, search)
    try:
        session_id = fc.session_for(services, person, Action.LIST_RECORDS)
        listed = services.records.list(fc.about(person), person, query, session_id=session_id)
    except NotFound:
        listed = RecordList([], None)
    found = [resources.document_reference(person, v) for v in listed.items]
    return fhir_response(searchset(request, found, listed.next_cursor))


def _record_at(services: Services, fc: FhirCaller, resource_id: str, action: Action) -> RecordAt:
    parts = resources.split_record_id(resource_id)
    if parts is None:
        raise NotFound("not a record id")
    person, record = parts
    return RecordAt(person, record, fc.session_for(services, person, action))


@router.get(f"{FHIR_BASE}/DocumentReference/{{rid}}", summary="Read a DocumentReference")
def read_document(rid: str, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """One record's metadata and title, with its content as a ``Binary`` link."""
    fc.require("DocumentReference", "r")
    at = _record_at(services, fc, rid, Action.READ_RECORD)
    view = services.records.get(
        fc.about(at.person_id), at.person_id, at.record_id, session_id=at.session_id
    )
    return fhir_response(resources.document_reference(at.person_id, view))


RangeHeader = Annotated[str | None, Header(alias="Range", max_length=200)]
AcceptHeader = Annotated[str | None, Header(alias="Accept", max_length=500)]


@router.get(f"{FHIR_BASE}/Binary/{{rid}}", summary="Read a Binary (a record's content)")
def read_binary(
    rid: str,
    services: ServicesDep,
    fc: FhirCallerDep,
    accept: AcceptHeader = None,
    range_header: RangeHeader = None,
) -> Response:
    """A record's content: as itself (radiology studies stream, with ``Range``), or — with
    ``Accept: application/fhir+json`` — as a ``Binary`` resource (base64)."""
    fc.require("Binary", "r")
    at = _record_at(services, fc, rid, Action.READ_CONTENT)
    caller = fc.about(at.person_id)
    if not accept or FHIR_JSON not in accept:
        return content_of(services, caller, at, range_header)
    opened = services.records.content(caller, at.person_id, at.record_id, session_id=at.session_id)
    if opened.record.blob_name is not None:
        raise invalid("binary_too_large", "A radiology study is read as itself, not as JSON.")
    data = base64.b64encode(opened.content).decode()
    body = resources.binary(at.person_id, at.record_id, opened.record.content_type, data)
    return fhir_response(body)
