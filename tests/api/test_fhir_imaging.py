"""``ImagingStudy`` over real HTTP, validated with ``fhir.resources`` (R4B): the studies
each reader sees equal what QIDO-RS lists for them, the contained ``dicom-wado-rs``
Endpoint is the DICOMweb base they read from, hidden is missing (same bytes), revocation
ends a provider's view on the next request; ``fhirpy`` pages through a search."""

from __future__ import annotations

from typing import Any

import pytest
from dicomweb_client.api import DICOMwebClient
from fhirpy import SyncFHIRClient

from api.fhir.imaging import study_resource_id
from sim.studies import Study, dataset
from tests.api.fhir_support import FHIR, code_of, valid
from tests.support.radiology import Radiology, radiology_server

__all__ = ["radiology_server"]

Studies = tuple[str, dict[str, str], Study, Study]


def _stow(rad: Radiology, citizen: dict[str, str], study: Study, count: int) -> None:
    made = []
    for index in range(count):
        ds = dataset(study)
        ds.PixelData = bytes([index]) * (8 * 8 * 2)
        ds.InstanceNumber = index + 1
        made.append(ds)
    code = rad.authorisation(citizen)
    headers = {**rad.depositor(), "X-Radiology-Authorisation": code}
    stored = DICOMwebClient(url=f"{rad.base_url}/dicomweb", headers=headers).store_instances(made)
    assert "FailedSOPSequence" not in stored


@pytest.fixture(scope="module")
def studies(radiology_server: Radiology) -> Studies:
    """A person with a CT study (2024-05-02, one instance) and an MR one (2026-03-01, two)."""
    rad = radiology_server
    pid, citizen = rad.person()
    ct = Study(study_date="20240502", modality="CT")
    mr = Study(study_date="20260301", modality="MR")
    _stow(rad, citizen, ct, 1)
    _stow(rad, citizen, mr, 2)
    return pid, citizen, ct, mr


def _get(rad: Radiology, path: str, headers: dict[str, str], **params: Any) -> Any:
    return rad.http.get(f"{FHIR}/{path}", headers=headers, params=params)


def _bundle(rad: Radiology, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = _get(rad, "ImagingStudy", headers, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return [e["resource"] for e in valid(response.json())["entry"]]


def _uids(found: list[dict[str, Any]]) -> list[str]:
    return [r["identifier"][0]["value"].removeprefix("urn:oid:") for r in found]


def _qido(rad: Radiology, base: str, headers: dict[str, str]) -> list[str]:
    rows = DICOMwebClient(url=base, headers=headers).search_for_studies()
    return [row["0020000D"]["Value"][0] for row in rows]


def test_the_person_searches_and_reads_their_studies_as_qido_lists_them(
    radiology_server: Radiology, studies: Studies
) -> None:
    rad = radiology_server
    pid, citizen, ct, mr = studies
    found = _bundle(rad, citizen)
    assert _uids(found) == [mr.study_instance_uid, ct.study_instance_uid]
    assert _uids(found) == _qido(rad, f"{rad.base_url}/dicomweb", citizen)
    newest, oldest = found
    assert newest["numberOfInstances"] == 2 and oldest["numberOfInstances"] == 1
    assert newest["modality"][0]["code"] == "MR" and newest["started"].startswith("2026-03-01")
    [endpoint] = newest["contained"]
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    assert endpoint["address"] == f"{rad.base_url}/dicomweb"
    assert newest["endpoint"] == [{"reference": "#wado"}]
    for resource in found:
        read = rad.http.get(f"{FHIR}/ImagingStudy/{resource['id']}", headers=citizen)
        assert read.status_code == 200 and valid(read.json()) == resource
    assert _uids(_bundle(rad, citizen, started="ge2025-01-01")) == [mr.study_instance_uid]
    assert _uids(_bundle(rad, citizen, patient=f"Patient/{pid}", date="le2025-01-01")) == [
        ct.study_instance_uid
    ]


def test_fhirpy_pages_through_the_studies(radiology_server: Radiology, studies: Studies) -> None:
    rad = radiology_server
    pid, citizen, ct, mr = studies
    client = SyncFHIRClient(f"{rad.base_url}{FHIR}", authorization=citizen["Authorization"])
    found = client.resources("ImagingStudy").search(patient=pid).limit(1).fetch_all()
    assert [r["id"] for r in found] == [
        study_resource_id(pid, mr.study_instance_uid),
        study_resource_id(pid, ct.study_instance_uid),
    ]
    for resource in found:
        valid(dict(resource))


def test_hidden_studies_are_missing_and_revocation_ends_the_view(
    radiology_server: Radiology, studies: Studies
) -> None:
    rad = radiology_server
    pid, citizen, ct, _ = studies
    doctor = rad.world.professional("hksh", "doctor")
    sid = study_resource_id(pid, ct.study_instance_uid)
    missing = rad.http.get(f"{FHIR}/ImagingStudy/{pid}.{'0' * 24}", headers=doctor)
    hidden = rad.http.get(f"{FHIR}/ImagingStudy/{sid}", headers=doctor)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content and code_of(hidden) == "not_found"
    assert _bundle(rad, doctor, patient=pid) == []

    consent = {"institution_id": "hksh", "kind": "indefinite", "scopes": ["personal_folder"]}
    made = rad.http.post("/v1/me/sharing-consents", headers=citizen, json=consent)
    assert made.status_code == 201, made.text
    provider = f"{rad.base_url}/dicomweb/patients/{pid}"
    found = _bundle(rad, doctor, patient=pid)
    assert _uids(found) == _qido(rad, provider, doctor) and len(found) == 2
    assert found[1]["contained"][0]["address"] == provider
    assert rad.http.get(f"{FHIR}/ImagingStudy/{sid}", headers=doctor).status_code == 200

    gone = rad.http.delete(f"/v1/me/sharing-consents/{made.json()['id']}", headers=citizen)
    assert gone.status_code == 204
    assert rad.http.get(f"{FHIR}/ImagingStudy/{sid}", headers=doctor).content == missing.content
    assert _bundle(rad, doctor, patient=pid) == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"started": "gt2025-01-01"}, "invalid_date_prefix"),
        ({"date": "2025-13-01"}, "invalid_date"),
        ({"_total": "accurate"}, "total_not_supported"),
        ({"_summary": "count"}, "summary_not_supported"),
        ({"_cursor": "abc"}, "invalid_cursor"),
        ({"modality": "CT"}, "unsupported_parameter"),
        ({"patient.name": "x"}, "chained_search_not_supported"),
    ],
)
def test_bad_searches_get_an_operation_outcome(
    radiology_server: Radiology, studies: Studies, params: dict[str, str], code: str
) -> None:
    response = _get(radiology_server, "ImagingStudy", studies[1], **params)
    assert 400 <= response.status_code < 500 and code_of(response) == code


def test_the_capability_statement_lists_imaging_study(radiology_server: Radiology) -> None:
    statement = valid(radiology_server.http.get(f"{FHIR}/metadata").json())
    [entry] = [r for r in statement["rest"][0]["resource"] if r["type"] == "ImagingStudy"]
    assert [i["code"] for i in entry["interaction"]] == ["read", "search-type"]
    assert {p["name"] for p in entry["searchParam"]} == {"patient", "subject", "started", "date"}
