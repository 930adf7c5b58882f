"""QIDO-RS search and WADO-RS metadata, as DICOM JSON (``application/dicom+json``), for
the person (``/dicomweb``; a caregiver adds ``On-Behalf-Of``) and for Hong Kong providers
(``/dicomweb/patients/{person_id}``): what a viewer such as OHIF needs to list a person's
studies and display one.

* ``GET .../studies`` — the studies, matched on ``PatientID``, ``PatientName``,
  ``StudyDate`` (``YYYYMMDD`` or a range ``YYYYMMDD-YYYYMMDD``, either end open),
  ``ModalitiesInStudy``, ``AccessionNumber``, ``StudyDescription``, ``StudyID`` or
  ``StudyInstanceUID``; ``GET .../studies/{study}/series`` and
  ``.../series/{series}/instances`` the levels below. ``limit`` (at most 500, default
  100), ``offset`` and ``includefield`` (keywords or tags, comma-separated or repeated,
  or ``all``). Every match is ``200`` with a JSON array, possibly empty.
* ``GET .../studies/{study}/metadata`` (and ``.../series/{series}/metadata``,
  ``.../instances/{instance}/metadata``) — every instance's attributes.

A bad query (an unknown key or ``includefield``, a malformed ``StudyDate``, a ``limit``
over the maximum) is ``400`` problem+json with a stable ``code``. A study, series or
instance the caller may not see is the same ``404`` as one that does not exist (R10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.deps import CitizenCaller, ProfessionalCaller, subject_of
from api.routes.radiology import RadiologyDep
from vault.access.judge import Caller
from vault.radiology.dicom_json import Level
from vault.radiology.qido import SearchQuery, parse_query

router = APIRouter(tags=["dicomweb"])
DICOM_JSON = "application/dicom+json"


class DicomJSONResponse(JSONResponse):
    media_type = DICOM_JSON


def _answer(body: list[dict[str, Any]]) -> DicomJSONResponse:
    return DicomJSONResponse(body, headers={"Cache-Control": "no-store"})


def _query(level: Level) -> Callable[[Request], SearchQuery]:
    def parse(request: Request) -> SearchQuery:
        return parse_query(level, request.query_params.multi_items())

    return parse


StudyQuery = Annotated[SearchQuery, Depends(_query(Level.STUDY))]
SeriesQuery = Annotated[SearchQuery, Depends(_query(Level.SERIES))]
InstanceQuery = Annotated[SearchQuery, Depends(_query(Level.INSTANCE))]
PATIENT = "/dicomweb/patients/{pid}"
MINE = "/dicomweb"
_ELEMENT = {
    "type": "object",
    "description": "One attribute: its value representation and values (none when empty).",
    "properties": {"vr": {"type": "string"}, "Value": {"type": "array", "items": {}}},
    "required": ["vr"],
}
_DATASETS = {
    "type": "array",
    "description": "DICOM JSON (PS3.18 F.2): one object per match, attributes keyed by tag.",
    "items": {"type": "object", "additionalProperties": _ELEMENT},
    "example": [
        {
            "0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.8.498.1"]},
            "00080020": {"vr": "DA", "Value": ["20260301"]},
            "00080061": {"vr": "CS", "Value": ["CT"]},
            "00201208": {"vr": "IS", "Value": [3]},
        }
    ],
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {DICOM_JSON: {"schema": _DATASETS}}, "description": "DICOM JSON"}
}
_OPTIONS: dict[str, Any] = {"response_class": DicomJSONResponse, "responses": _RESPONSES}


def _parameter(name: str, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
        "example": example,
    }


_PAGING = [
    _parameter("limit", "At most this many matches (1 to 500; default 100).", "20"),
    _parameter("offset", "Skip this many matches first (default 0).", "0"),
    _parameter(
        "includefield",
        "More attributes to answer: keywords or tags, comma-separated or repeated, or all.",
        "StudyDescription,00081030",
    ),
]
_STUDY_KEYS = [
    _parameter("PatientID", "The PatientID the deposit carried (* and ? match any).", "MRN-*"),
    _parameter(
        "StudyDate", "YYYYMMDD, or a range YYYYMMDD-YYYYMMDD (either end open).", "20260101-"
    ),
    _parameter("ModalitiesInStudy", "Studies with any of these modalities.", "CT,MR"),
]
_SERIES_KEYS = [_parameter("Modality", "The series' modality.", "CT")]
_SEARCH: dict[Level, dict[str, Any]] = {
    Level.STUDY: {"openapi_extra": {"parameters": _STUDY_KEYS + _PAGING}},
    Level.SERIES: {"openapi_extra": {"parameters": _SERIES_KEYS + _PAGING}},
    Level.INSTANCE: {"openapi_extra": {"parameters": _PAGING}},
}


def _own(caller: Caller) -> str:
    return subject_of(caller)


# -- QIDO-RS --------------------------------------------------------------------------------


@router.get(
    MINE + "/studies",
    summary="Search the person's own studies (QIDO-RS)",
    **_OPTIONS,
    **_SEARCH[Level.STUDY],
)
def my_studies(query: StudyQuery, service: RadiologyDep, caller: CitizenCaller) -> Any:
    return _answer(service.search(caller, _own(caller), query))


@router.get(
    MINE + "/studies/{study}/series",
    summary="Search a study's series (QIDO-RS)",
    **_OPTIONS,
    **_SEARCH[Level.SERIES],
)
def my_series(study: str, query: SeriesQuery, service: RadiologyDep, caller: CitizenCaller) -> Any:
    return _answer(service.search(caller, _own(caller), query, study))


@router.get(
    MINE + "/studies/{study}/series/{series}/instances",
    summary="Search a series' instances (QIDO-RS)",
    **_OPTIONS,
    **_SEARCH[Level.INSTANCE],
)
def my_instances(
    study: str, series: str, query: InstanceQuery, service: RadiologyDep, caller: CitizenCaller
) -> Any:
    return _answer(service.search(caller, _own(caller), query, study, series))


@router.get(
    PATIENT + "/studies",
    summary="Search a patient's studies (QIDO-RS, HK provider)",
    **_OPTIONS,
    **_SEARCH[Level.STUDY],
)
def patient_studies(
    pid: str, query: StudyQuery, service: RadiologyDep, caller: ProfessionalCaller
) -> Any:
    return _answer(service.search(caller, pid, query))


@router.get(
    PATIENT + "/studies/{study}/series",
    summary="Search a patient's study's series (QIDO-RS, HK provider)",
    **_OPTIONS,
    **_SEARCH[Level.SERIES],
)
def patient_series(
    pid: str, study: str, query: SeriesQuery, service: RadiologyDep, caller: ProfessionalCaller
) -> Any:
    return _answer(service.search(caller, pid, query, study))


@router.get(
    PATIENT + "/studies/{study}/series/{series}/instances",
    summary="Search a patient's series' instances (QIDO-RS, HK provider)",
    **_OPTIONS,
    **_SEARCH[Level.INSTANCE],
)
def patient_instances(  # noqa: PLR0913 (path, query and guards)
    pid: str,
    study: str,
    series: str,
    query: InstanceQuery,
    service: RadiologyDep,
    caller: ProfessionalCaller,
) -> Any:
    return _answer(service.search(caller, pid, query, study, series))


# -- WADO-RS metadata -----------------------------------------------------------------------


@router.get(MINE + "/studies/{study}/metadata", summary="A study's metadata", **_OPTIONS)
def my_study_metadata(study: str, service: RadiologyDep, caller: CitizenCaller) -> Any:
    return _answer(service.metadata(caller, _own(caller), study))


@router.get(
    MINE + "/studies/{study}/series/{series}/metadata", summary="A series' metadata", **_OPTIONS
)
def my_series_metadata(
    study: str, series: str, service: RadiologyDep, caller: CitizenCaller
) -> Any:
    return _answer(service.metadata(caller, _own(caller), study, series))


@router.get(
    MINE + "/studies/{study}/series/{series}/instances/{instance}/metadata",
    summary="An instance's metadata",
    **_OPTIONS,
)
def my_instance_metadata(
    study: str, series: str, instance: str, service: RadiologyDep, caller: CitizenCaller
) -> Any:
    return _answer(service.metadata(caller, _own(caller), study, series, instance))


@router.get(
    PATIENT + "/studies/{study}/metadata",
    summary="A patient's study's metadata (HK provider)",
    **_OPTIONS,
)
def patient_study_metadata(
    pid: str, study: str, service: RadiologyDep, caller: ProfessionalCaller
) -> Any:
    return _answer(service.metadata(caller, pid, study))


@router.get(
    PATIENT + "/studies/{study}/series/{series}/metadata",
    summary="A patient's series' metadata (HK provider)",
    **_OPTIONS,
)
def patient_series_metadata(
    pid: str, study: str, series: str, service: RadiologyDep, caller: ProfessionalCaller
) -> Any:
    return _answer(service.metadata(caller, pid, study, series))


@router.get(
    PATIENT + "/studies/{study}/series/{series}/instances/{instance}/metadata",
    summary="A patient's instance's metadata (HK provider)",
    **_OPTIONS,
)
def patient_instance_metadata(  # noqa: PLR0913 (path and guards)
    pid: str,
    study: str,
    series: str,
    instance: str,
    service: RadiologyDep,
    caller: ProfessionalCaller,
) -> Any:
    return _answer(service.metadata(caller, pid, study, series, instance))
