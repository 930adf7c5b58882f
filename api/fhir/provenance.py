"""``Provenance`` for deposits: who deposited a record and when, one per record (the id
is the record's ``DocumentReference`` id). Read and searched through the very use cases
the ``DocumentReference`` it targets goes through (``Records.get`` / ``Records.list``:
the same decision, audited before anything is shown), so a Provenance is visible exactly
when its record is, and a hidden one is the same 404 as a missing one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import ServicesDep
from api.fhir.bundles import searchset
from api.fhir.caller import FhirCaller, FhirCallerDep
from api.fhir.outcome import FHIR_BASE, fhir_response
from api.fhir.records import _record_at, _record_query, _searched_person
from api.fhir.resources import (
    INSTITUTION_SYSTEM,
    PROFESSIONAL_SYSTEM,
    instant,
    record_resource_id,
)
from api.fhir.search import Search, invalid, parse, reference
from api.services import Services
from policies.vocabulary import Action
from vault.core.errors import NotFound
from vault.records.reading import RecordList, RecordView

router = APIRouter(tags=["fhir"], include_in_schema=False)  # see routes.py
PARAMS = frozenset({"patient", "target"})
_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def _agent(person_id: str, view: RecordView) -> dict[str, Any]:
    r = view.record
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": _PARTICIPANT, "code": "author"}]},
    }
    institution = {
        "identifier": {"system": INSTITUTION_SYSTEM, "value": r.depositor_institution_id}
    }
    if r.depositor_professional_id:
        who = {"system": PROFESSIONAL_SYSTEM, "value": r.depositor_professional_id}
        agent["who"] = {"identifier": who}
        if r.depositor_institution_id:
            agent["onBehalfOf"] = institution
    elif r.depositor_institution_id:
        agent["who"] = institution
    else:  # the person's own upload to their Personal Folder
        agent["who"] = {"reference": f"Patient/{person_id}"}
    return agent


def provenance(person_id: str, view: RecordView) -> dict[str, Any]:
    """The deposit of one record: target its DocumentReference, recorded its deposit."""
    rid = record_resource_id(person_id, view.record.id)
    return {
        "resourceType": "Provenance",
        "id": rid,
        "target": [{"reference": f"DocumentReference/{rid}"}],
        "recorded": instant(view.record.created_at),
        "activity": {"coding": [{"system": _OPERATION, "code": "CREATE"}]},
        "agent": [_agent(person_id, view)],
    }


def _view(services: Services, fc: FhirCaller, resource_id: str) -> tuple[str, RecordView]:
    at = _record_at(services, fc, resource_id, Action.READ_RECORD)
    view = services.records.get(
        fc.about(at.person_id), at.person_id, at.record_id, session_id=at.session_id
    )
    return at.person_id, view


@router.get(f"{FHIR_BASE}/Provenance/{{pid}}", summary="Read a Provenance")
def read_provenance(pid: str, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """A record's deposit, decided as a read of the record."""
    fc.require("Provenance", "r")
    return fhir_response(provenance(*_view(services, fc, pid)))


def _targeted(services: Services, fc: FhirCaller, search: Search) -> list[dict[str, Any]]:
    if "patient" in search.values:
        raise invalid("repeated_parameter", "Give target or patient, not both.")
    target = reference(search.values["target"], "DocumentReference")
    try:
        return [provenance(*_view(services, fc, target))]
    except NotFound:
        return []


@router.get(f"{FHIR_BASE}/Provenance", summary="Search Provenance")
def search_provenance(request: Request, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """``target`` (one DocumentReference: decided as its read) or ``patient`` (the
    records the caller may see: decided as their list), ``_count``; paged by ``next``."""
    fc.require("Provenance", "s")
    search = parse(request.query_params, PARAMS)
    if "target" in search.values:
        return fhir_response(searchset(request, _targeted(services, fc, search), None))
    query = _record_query(search)
    person = _searched_person(services, fc, search)
    try:
        session_id = fc.session_for(services, person, Action.LIST_RECORDS)
        listed = services.records.list(fc.about(person), person, query, session_id=session_id)
    except NotFound:
        listed = RecordList([], None)
    found = [provenance(person, v) for v in listed.items]
    return fhir_response(searchset(request, found, listed.next_cursor))
