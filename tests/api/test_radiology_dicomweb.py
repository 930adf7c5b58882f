"""DICOMweb with the ``dicomweb-client`` package: STOW-RS by depositors (into an open
deposit, or all-or-nothing with the code), WADO-RS by the person and by HK providers
whose sharing consent covers the Personal Folder — and by nobody else."""

from __future__ import annotations

import io

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from requests import Response
from requests.exceptions import HTTPError

from sim.studies import Study, dataset
from tests.support.radiology import DICOM_NAME, Radiology, rad, radiology_server

__all__ = ["rad", "radiology_server"]


def _instances(study: Study, count: int) -> list[Dataset]:
    made = []
    for index in range(count):
        ds = dataset(study)
        ds.PixelData = bytes([index]) * (8 * 8 * 2)
        ds.InstanceNumber = index + 1
        made.append(ds)
    return made


def _client(rad: Radiology, headers: dict[str, str], base: str = "/dicomweb") -> DICOMwebClient:
    return DICOMwebClient(url=f"{rad.base_url}{base}", headers=headers)


def _response(error: pytest.ExceptionInfo[HTTPError]) -> Response:
    response = error.value.response
    assert response is not None
    return response


def _sops(datasets: list[Dataset]) -> list[str]:
    return sorted(str(ds.SOPInstanceUID) for ds in datasets)


def test_stow_with_the_code_stores_a_study_that_the_person_retrieves(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    study = Study(patient_name=DICOM_NAME)
    second_series = Study(patient_name=DICOM_NAME, study_instance_uid=study.study_instance_uid)
    sent = _instances(study, 2) + _instances(second_series, 1)
    stow = _client(rad, {**depositor, "X-Radiology-Authorisation": rad.authorisation(citizen)})
    response = stow.store_instances(sent)
    assert len(response.ReferencedSOPSequence) == 3
    assert "FailedSOPSequence" not in response

    wado = _client(rad, citizen)
    retrieved = wado.retrieve_study(study.study_instance_uid)
    assert _sops(retrieved) == _sops(sent)
    by_uid = {str(ds.SOPInstanceUID): ds for ds in retrieved}
    for original in sent:
        back = by_uid[str(original.SOPInstanceUID)]
        assert back.PixelData == original.PixelData
        assert back.PatientName == DICOM_NAME
    series = wado.retrieve_series(study.study_instance_uid, study.series_instance_uid)
    assert _sops(series) == _sops(sent[:2])
    one = wado.retrieve_instance(
        study.study_instance_uid, study.series_instance_uid, str(sent[0].SOPInstanceUID)
    )
    assert one.SOPInstanceUID == sent[0].SOPInstanceUID
    assert len(rad.my_records(citizen)) == 3


def test_stow_into_an_open_deposit_stays_pending_until_complete(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    study = Study(patient_name=DICOM_NAME)
    stow = _client(rad, {**depositor, "X-Radiology-Deposit": deposit_id})
    stow.store_instances(_instances(study, 2), study_instance_uid=study.study_instance_uid)
    wado = _client(rad, citizen)
    with pytest.raises(HTTPError) as hidden:
        wado.retrieve_study(study.study_instance_uid)
    assert _response(hidden).status_code == 404
    assert rad.complete(depositor, deposit_id).status_code == 200
    assert len(wado.retrieve_study(study.study_instance_uid)) == 2


def test_stow_with_the_code_keeps_nothing_if_one_instance_is_refused(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    code = rad.authorisation(citizen)
    study = Study(patient_name=DICOM_NAME)
    stranger = Study(patient_name="WONG^SIU MING", study_instance_uid=study.study_instance_uid)
    stow = _client(rad, {**depositor, "X-Radiology-Authorisation": code})
    with pytest.raises(HTTPError) as refused:
        stow.store_instances(_instances(study, 2) + _instances(stranger, 1))
    response = _response(refused)
    assert response.status_code == 409
    failed = Dataset.from_json(response.json()).FailedSOPSequence
    assert len(failed) == 3 and {int(item.FailureReason) for item in failed} == {0x0110, 0xC000}
    assert rad.my_records(citizen) == []
    assert rad.temporaries() == []
    retry = _client(rad, {**depositor, "X-Radiology-Authorisation": code})  # still unused
    assert len(retry.store_instances(_instances(study, 1)).ReferencedSOPSequence) == 1


def test_stow_refuses_instances_of_another_study_than_its_url(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    stow = _client(rad, {**depositor, "X-Radiology-Deposit": deposit_id})
    study, other = Study(patient_name=DICOM_NAME), Study(patient_name=DICOM_NAME)
    with pytest.raises(HTTPError) as refused:
        stow.store_instances(_instances(other, 1), study_instance_uid=study.study_instance_uid)
    assert _response(refused).status_code == 409
    r = rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=depositor)
    assert r.json()["files"] == []


def test_hk_providers_retrieve_with_personal_folder_consent_only(rad: Radiology) -> None:
    pid, citizen, depositor, _, contents = rad.deposited()
    study_uid = str(pydicom.dcmread(io.BytesIO(contents[0])).StudyInstanceUID)
    doctor = rad.world.professional("hksh", "doctor")
    provider = _client(rad, doctor, f"/dicomweb/patients/{pid}")

    def status_of_retrieval() -> int:
        try:
            provider.retrieve_study(study_uid)
        except HTTPError as error:
            assert error.response is not None
            return int(error.response.status_code)
        return 200

    assert status_of_retrieval() == 404  # no sharing consent
    consent = {"institution_id": "hksh", "kind": "indefinite", "scopes": ["ehr"]}
    r = rad.http.post("/v1/me/sharing-consents", headers=citizen, json=consent)
    assert r.status_code == 201, r.text
    assert status_of_retrieval() == 404  # the consent does not cover the Personal Folder
    consent["scopes"] = ["ehr", "personal_folder"]
    assert (
        rad.http.post("/v1/me/sharing-consents", headers=citizen, json=consent).status_code == 201
    )
    [retrieved] = provider.retrieve_study(study_uid)
    assert retrieved.PixelData == pydicom.dcmread(io.BytesIO(contents[0])).PixelData
    nurse = _client(rad, rad.world.professional("hksh", "nurse"), f"/dicomweb/patients/{pid}")
    with pytest.raises(HTTPError):  # radiology images are restricted for nurses
        nurse.retrieve_study(study_uid)
    assert status_of_depositor(rad, depositor, pid, study_uid) == 404


def status_of_depositor(rad: Radiology, depositor: dict[str, str], pid: str, study: str) -> int:
    """The depositor never reads back what it deposited (R5)."""
    r = rad.http.get(f"/dicomweb/patients/{pid}/studies/{study}", headers=depositor)
    return r.status_code


def test_wado_serves_instances_as_stored_and_says_so(rad: Radiology) -> None:
    _, citizen, _, _, contents = rad.deposited()
    stored = bytes(128) + contents[0][128:]
    study_uid = str(pydicom.dcmread(io.BytesIO(contents[0])).StudyInstanceUID)
    url = f"/dicomweb/studies/{study_uid}"
    r = rad.http.get(
        url, headers={**citizen, "Accept": 'multipart/related; type="application/dicom"'}
    )
    assert r.status_code == 200 and stored in r.content
    jpeg = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
    r = rad.http.get(url, headers={**citizen, "Accept": jpeg})
    assert (r.status_code, r.json()["code"]) == (406, "not_acceptable")
    assert rad.http.get("/dicomweb/studies/1.2.3.4", headers=citizen).status_code == 404
