"""``ImagingStudy``: a person's radiology studies, answered from the same sealed study
index and the same use case as QIDO-RS (:class:`~vault.radiology.search.StudySearch`):
one ``LIST_RECORDS`` decision about the person, audited before anything is shown, its
visible set applied to the index as SQL predicates.

Each study carries a contained ``Endpoint`` of connection type ``dicom-wado-rs`` whose
address is the DICOMweb base the caller reads the images from: ``/dicomweb`` for the
person (a caregiver adds ``On-Behalf-Of``), ``/dicomweb/patients/{id}`` for an HK
provider. The id is the person's id, ``.``, and 24 hex digits of SHA-256 of the study's
UID (a DICOM UID may hold 64 characters, a FHIR id no more than that in all); a read is
the person's visible studies searched for that id — one not visible and one that does not
exist are the same 404, after the same work.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import ServicesDep
from api.fhir.bundles import base_url, searchset
from api.fhir.caller import FhirCaller, FhirCallerDep
from api.fhir.outcome import FHIR_BASE, fhir_response
from api.fhir.search import Search, date_range, invalid, parse, reference
from api.routes.radiology import RadiologyDep
from api.services import Services
from policies.dates import HONG_KONG
from policies.vocabulary import Action
from vault.core.errors import NotFound
from vault.radiology.dicom_json import Level
from vault.radiology.qido import MAX_LIMIT, SearchQuery
from vault.radiology.service import RadiologyDeposits

router = APIRouter(tags=["fhir"], include_in_schema=False)  # see routes.py
PARAMS = frozenset({"patient", "subject", "date", "started"})
DCM = "http://dicom.nema.org/resources/ontology/DCM"
_CONNECTION = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
_UID, _DATE, _TIME, _DESCRIPTION = "0020000D", "00080020", "00080030", "00081030"
_MODALITIES, _SERIES, _INSTANCES, _ACCESSION = "00080061", "00201206", "00201208", "00080050"
_MAX_OFFSET = 100_000


def study_resource_id(person_id: str, study_uid: str) -> str:
    return f"{person_id}.{hashlib.sha256(study_uid.encode()).hexdigest()[:24]}"


def _values(row: dict[str, Any], tag: str) -> list[Any]:
    values: list[Any] = row.get(tag, {}).get("Value", [])
    return values


def _first(row: dict[str, Any], tag: str) -> str:
    values = _values(row, tag)
    return str(values[0]) if values else ""


def _started(row: dict[str, Any]) -> str | None:
    """StudyDate (and StudyTime) as a FHIR dateTime, in Hong Kong time."""
    text = _first(row, _DATE)
    try:
        day = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
    clock = _first(row, _TIME).split(".")[0]
    if len(clock) != 6 or not clock.isdigit():  # HHMMSS
        return day.isoformat()
    try:
        at = time(int(clock[:2]), int(clock[2:4]), int(clock[4:]))
    except ValueError:
        return day.isoformat()
    return datetime.combine(day, at, tzinfo=HONG_KONG).isoformat()


def _endpoint(address: str) -> dict[str, Any]:
    return {
        "resourceType": "Endpoint",
        "id": "wado",
        "status": "active",
        "connectionType": {"system": _CONNECTION, "code": "dicom-wado-rs"},
        "payloadType": [{"text": "DICOM WADO-RS"}],
        "payloadMimeType": ["application/dicom"],
        "address": address,
    }


def imaging_study(person_id: str, row: dict[str, Any], wado_base: str) -> dict[str, Any]:
    """One QIDO-RS study row (DICOM JSON) as an ImagingStudy."""
    uid = _first(row, _UID)
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": study_resource_id(person_id, uid),
        "contained": [_endpoint(wado_base)],
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
        "status": "available",
        "subject": {"reference": f"Patient/{person_id}"},
        "endpoint": [{"reference": "#wado"}],
    }
    modalities = [{"system": DCM, "code": str(m)} for m in _values(row, _MODALITIES)]
    if modalities:
        resource["modality"] = modalities
    if started := _started(row):
        resource["started"] = started
    for key, tag in (("numberOfSeries", _SERIES), ("numberOfInstances", _INSTANCES)):
        if _values(row, tag):
            resource[key] = int(_values(row, tag)[0])
    if accession := _first(row, _ACCESSION):
        resource["identifier"].append({"type": {"text": "Accession"}, "value": accession})
    if description := _first(row, _DESCRIPTION):
        resource["description"] = description
    return resource


def _wado_base(request: Request, fc: FhirCaller, person_id: str) -> str:
    root = base_url(request)[: -len(FHIR_BASE)]
    if fc.professional is None:
        return f"{root}/dicomweb"
    return f"{root}/dicomweb/patients/{person_id}"


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > _MAX_OFFSET:
        raise invalid("invalid_cursor", "_cursor is the one a next link carries.")
    return int(cursor)


def _person(services: Services, fc: FhirCaller, search: Search) -> str:
    if "patient" in search.values and "subject" in search.values:
        raise invalid("repeated_parameter", "Give patient or subject, not both.")
    given = search.values.get("patient") or search.values.get("subject")
    if given is not None:
        return reference(given, "Patient")
    person = fc.default_person(services, Action.LIST_RECORDS)
    if person is None:
        raise invalid("patient_required", "Name the patient (patient=Patient/<id>).")
    return person


def _rows(
    service: RadiologyDeposits, fc: FhirCaller, person_id: str, query: SearchQuery
) -> list[dict[str, Any]]:
    """The study rows the caller may see (the QIDO-RS use case: decided and audited)."""
    return service.search(fc.about(person_id), person_id, query)


@router.get(f"{FHIR_BASE}/ImagingStudy", summary="Search ImagingStudy")
def search_studies(
    request: Request, services: ServicesDep, service: RadiologyDep, fc: FhirCallerDep
) -> Response:
    """The person's studies the caller may see, newest first: ``patient``, ``started``
    (or ``date``; ``ge``/``le``/``eq``, the StudyDate), ``_count``; paged by ``next``."""
    fc.require("ImagingStudy", "s")
    search = parse(request.query_params, PARAMS)
    dates = date_range(search.dates)
    offset = _offset(search.cursor)
    person = _person(services, fc, search)
    query = SearchQuery(
        Level.STUDY,
        study_dates=None if dates == (None, None) else dates,
        limit=search.count + 1,
        offset=offset,
    )
    try:
        rows = _rows(service, fc, person, query)
    except NotFound:
        rows = []
    base = _wado_base(request, fc, person)
    found = [imaging_study(person, row, base) for row in rows[: search.count]]
    following = str(offset + search.count) if len(rows) > search.count else None
    return fhir_response(searchset(request, found, following))


@router.get(f"{FHIR_BASE}/ImagingStudy/{{sid}}", summary="Read an ImagingStudy")
def read_study(sid: str, request: Request, service: RadiologyDep, fc: FhirCallerDep) -> Response:
    """One study: the person's visible studies, searched for this id."""
    fc.require("ImagingStudy", "r")
    person, _, _ = sid.rpartition(".")
    if not person:
        raise NotFound("not a study id")
    rows = _rows(service, fc, person, SearchQuery(Level.STUDY, limit=MAX_LIMIT))
    for row in rows:
        if study_resource_id(person, _first(row, _UID)) == sid:
            return fhir_response(imaging_study(person, row, _wado_base(request, fc, person)))
    raise NotFound("no such study")
