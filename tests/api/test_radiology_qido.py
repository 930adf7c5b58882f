"""QIDO-RS search and WADO-RS metadata with the ``dicomweb-client`` package over real
HTTP, on pydicom's bundled test files and generated ones: what a viewer needs to list a
person's studies and display one, answered from the sealed study index, only over what
the caller may see, each request audited; bad queries and hidden studies answered alike.
"""

from __future__ import annotations

import io
import secrets
import time
from typing import Any

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from sqlmodel import Session, col, delete, select

from sim.studies import Study, dataset
from tests.api.conftest import PASSWORD
from tests.support.databases import DatabaseKind
from tests.support.radiology import Radiology, rad, radiology_server
from vault.records.sealed import open_metadata, seal_metadata
from vault.store.radiology_tables import DicomIndexBacklog, DicomStudyPart
from vault.store.tables import Record

__all__ = ["rad", "radiology_server"]

CT_NAME = "CompressedSamples CT1"  # CT_small.dcm's PatientName, as the person is registered


def _ct_small() -> Dataset:
    path = get_testdata_file("CT_small.dcm")
    assert isinstance(path, str)
    return pydicom.dcmread(path)


def _generated(study: Study, count: int, modality: str = "MR") -> list[Dataset]:
    made = []
    for index in range(count):
        ds = dataset(Study(**{**study.__dict__, "modality": modality}))
        ds.PixelData = bytes([index]) * (8 * 8 * 2)
        ds.InstanceNumber = index + 1
        ds.SeriesNumber = 2
        ds.PixelSpacing = [0.5, 0.5]
        ds.WindowCenter, ds.WindowWidth = 40, 400
        made.append(ds)
    return made


def _client(rad: Radiology, headers: dict[str, str], base: str = "/dicomweb") -> DICOMwebClient:
    return DICOMwebClient(url=f"{rad.base_url}{base}", headers=headers)


def _stow(rad: Radiology, citizen: dict[str, str], datasets: list[Dataset]) -> None:
    code = rad.authorisation(citizen)
    stow = _client(rad, {**rad.depositor(), "X-Radiology-Authorisation": code})
    response = stow.store_instances(datasets)
    assert "FailedSOPSequence" not in response


def _value(item: dict[str, Any], tag: str) -> Any:
    values = item[tag].get("Value", [])
    return values[0] if len(values) == 1 else values


def _folder_consent(rad: Radiology, citizen: dict[str, str]) -> None:
    """The person's sharing consent to HKSH, covering the Personal Folder."""
    consent = {"institution_id": "hksh", "kind": "indefinite", "scopes": ["ehr", "personal_folder"]}
    r = rad.http.post("/v1/me/sharing-consents", headers=citizen, json=consent)
    assert r.status_code == 201, r.text


def _person_with_two_studies(rad: Radiology) -> tuple[str, dict[str, str], Dataset, Study]:
    """A person with CT_small.dcm (2004) and a generated 3-instance MR study (2026)."""
    pid, citizen = rad.person(CT_NAME)
    ct = _ct_small()
    _stow(rad, citizen, [ct])
    mr = Study(patient_name="CompressedSamples^CT1", patient_id="MRN-7", study_date="20260301")
    _stow(rad, citizen, _generated(mr, 3))
    return pid, citizen, ct, mr


TwoStudies = tuple[str, dict[str, str], Dataset, Study]


@pytest.fixture(scope="module")
def two_studies(radiology_server: Radiology) -> TwoStudies:
    """One person with two studies, for the module's tests that only read them."""
    return _person_with_two_studies(radiology_server)


def test_a_viewer_lists_the_studies_their_series_and_instances(
    rad: Radiology, two_studies: TwoStudies
) -> None:
    _, citizen, ct, mr = two_studies
    client = _client(rad, citizen)
    studies = client.search_for_studies()
    assert [_value(s, "0020000D") for s in studies] == [mr.study_instance_uid, ct.StudyInstanceUID]
    newest, oldest = studies
    assert _value(oldest, "00080020") == "20040119" and _value(oldest, "00080030") == "072730"
    assert _value(oldest, "00100020") == "1CT1"  # the PatientID the deposit pinned
    assert _value(oldest, "00100010") == {"Alphabetic": CT_NAME}
    assert _value(oldest, "00080061") == "CT" and _value(newest, "00080061") == "MR"
    assert _value(oldest, "00201208") == 1 and _value(newest, "00201208") == 3
    assert oldest["00080050"] == {"vr": "SH"}  # AccessionNumber: required, empty

    [series] = client.search_for_series(mr.study_instance_uid)
    assert _value(series, "0020000E") == mr.series_instance_uid
    assert (_value(series, "00080060"), _value(series, "00200011")) == ("MR", 2)
    assert _value(series, "00201209") == 3
    instances = client.search_for_instances(mr.study_instance_uid, mr.series_instance_uid)
    assert [_value(i, "00200013") for i in instances] == [1, 2, 3]
    assert {_value(i, "00280010") for i in instances} == {8}


def test_metadata_carries_what_the_viewer_displays_with(
    rad: Radiology, two_studies: TwoStudies
) -> None:
    _, citizen, ct, mr = two_studies
    client = _client(rad, citizen)
    [meta] = client.retrieve_study_metadata(str(ct.StudyInstanceUID))
    back = Dataset.from_json(meta)
    for keyword in (
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "PhotometricInterpretation",
        "BitsAllocated",
        "PixelRepresentation",
        "PixelSpacing",
        "RescaleSlope",
        "RescaleIntercept",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "SeriesInstanceUID",
        "Modality",
        "StudyDate",
    ):
        assert back.get(keyword) == ct.get(keyword), keyword
    assert back.AvailableTransferSyntaxUID == ct.file_meta.TransferSyntaxUID
    assert "PixelData" not in back
    series = client.retrieve_series_metadata(mr.study_instance_uid, mr.series_instance_uid)
    assert len(series) == 3 and Dataset.from_json(series[0]).WindowWidth == 400
    one = Dataset.from_json(series[1])
    again = client.retrieve_instance_metadata(
        mr.study_instance_uid, mr.series_instance_uid, str(one.SOPInstanceUID)
    )
    assert Dataset.from_json(again).SOPInstanceUID == one.SOPInstanceUID


def test_searches_match_filter_page_and_include(rad: Radiology, two_studies: TwoStudies) -> None:
    _, citizen, ct, mr = two_studies
    client = _client(rad, citizen)

    def uids(**search: Any) -> list[str]:
        return [_value(s, "0020000D") for s in client.search_for_studies(**search)]

    assert uids(search_filters={"PatientID": "1CT1"}) == [ct.StudyInstanceUID]
    assert uids(search_filters={"StudyDate": "20260101-"}) == [mr.study_instance_uid]
    assert uids(search_filters={"StudyDate": "20040101-20041231"}) == [ct.StudyInstanceUID]
    assert uids(search_filters={"StudyDate": "20040119"}) == [ct.StudyInstanceUID]
    assert uids(search_filters={"ModalitiesInStudy": "MR"}) == [mr.study_instance_uid]
    assert uids(search_filters={"00100010": "compressed*"}) == uids()
    assert uids(search_filters={"StudyDate": "", "PatientID": ""}) == uids()  # universal
    assert uids(limit=1, offset=1) == [ct.StudyInstanceUID]
    assert uids(offset=2) == []
    [with_uid] = client.search_for_studies(
        search_filters={"StudyInstanceUID": mr.study_instance_uid}
    )
    assert "00200032" not in with_uid
    [included] = client.search_for_instances(
        mr.study_instance_uid, mr.series_instance_uid, fields=["PixelSpacing"], limit=1
    )
    assert _value(included, "00280030") == [0.5, 0.5]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("includefield=NoSuchAttribute", "unknown_includefield"),
        ("includefield=12345678", "unknown_includefield"),
        ("StudyDate=2026-03-01", "invalid_study_date"),
        ("StudyDate=20260230", "invalid_study_date"),
        ("StudyDate=20260301-20250101", "invalid_study_date"),
        ("limit=501", "limit_too_large"),
        ("limit=0", "invalid_paging"),
        ("offset=-1", "invalid_paging"),
        ("offset=%C2%B2", "invalid_paging"),  # a superscript two: a digit, not ASCII
        ("offset=" + "9" * 40, "invalid_paging"),
        ("limit=1" + "0" * 30, "limit_too_large"),
        ("PatientBirthDate=19500517", "unsupported_search_key"),
    ],
)
def test_bad_queries_are_problems_with_a_stable_code(rad: Radiology, query: str, code: str) -> None:
    _, citizen = rad.person()
    r = rad.http.get(f"/dicomweb/studies?{query}", headers=citizen)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def test_hk_providers_search_with_personal_folder_consent_only(rad: Radiology) -> None:
    pid, citizen, ct, _ = _person_with_two_studies(rad)
    other_pid, other = rad.person(CT_NAME)
    _stow(rad, other, [_ct_small()])
    doctor = rad.world.professional("hksh", "doctor")
    missing = rad.http.get("/dicomweb/patients/nobody/studies", headers=doctor)
    assert missing.status_code == 404
    study = str(ct.StudyInstanceUID)
    for path in ("/studies", f"/studies/{study}/series", f"/studies/{study}/metadata"):
        r = rad.http.get(f"/dicomweb/patients/{pid}{path}", headers=doctor)
        assert (r.status_code, r.content) == (404, missing.content), path
    consent = {"institution_id": "hksh", "kind": "indefinite", "scopes": ["ehr"]}
    assert (
        rad.http.post("/v1/me/sharing-consents", headers=citizen, json=consent).status_code == 201
    )
    # Consent to eHRs only: the person's records may be listed, but no image is in sight.
    r = rad.http.get(f"/dicomweb/patients/{pid}/studies", headers=doctor)
    assert (r.status_code, r.json()) == (200, [])
    r = rad.http.get(f"/dicomweb/patients/{pid}/studies/{study}/metadata", headers=doctor)
    assert (r.status_code, r.content) == (404, missing.content)
    consent["scopes"] = ["ehr", "personal_folder"]
    assert (
        rad.http.post("/v1/me/sharing-consents", headers=citizen, json=consent).status_code == 201
    )
    provider = _client(rad, doctor, f"/dicomweb/patients/{pid}")
    assert len(provider.search_for_studies()) == 2
    assert len(provider.retrieve_study_metadata(study)) == 1
    # Another person's copy of the same study is theirs alone: still one instance here, and
    # their person is hidden as a missing one.
    r = rad.http.get(f"/dicomweb/patients/{other_pid}/studies", headers=doctor)
    assert (r.status_code, r.content) == (404, missing.content)
    nurse = rad.world.professional("hksh", "nurse")  # images are restricted for nurses
    r = rad.http.get(f"/dicomweb/patients/{pid}/studies", headers=nurse)
    assert r.status_code == 200 and r.json() == []
    r = rad.http.get(f"/dicomweb/patients/{pid}/studies/{study}/series", headers=nurse)
    assert (r.status_code, r.content) == (404, missing.content)


def test_hidden_and_missing_uids_are_one_answer(rad: Radiology, two_studies: TwoStudies) -> None:
    _, citizen, ct, mr = two_studies
    _, stranger = rad.person(CT_NAME)  # their own copy of nothing
    study = str(ct.StudyInstanceUID)
    paths = [
        "/dicomweb/studies/{}/series",
        "/dicomweb/studies/{}/metadata",
        f"/dicomweb/studies/{mr.study_instance_uid}/series/{{}}/instances",
        f"/dicomweb/studies/{mr.study_instance_uid}/series/{{}}/metadata",
    ]
    answers = set()
    for path in paths:
        for headers, uid in ((stranger, study), (citizen, "1.2.3.4"), (stranger, "1.2.3.4")):
            if "series/{}" in path and headers is stranger:
                uid = mr.series_instance_uid
            r = rad.http.get(path.format(uid), headers=headers)
            answers.add((r.status_code, r.content))
    assert len(answers) == 1 and next(iter(answers))[0] == 404
    assert rad.http.get("/dicomweb/studies", headers=stranger).json() == []


def test_every_search_and_metadata_request_is_audited(rad: Radiology) -> None:
    pid, citizen, ct, _ = _person_with_two_studies(rad)
    doctor = rad.world.professional("hksh", "doctor")
    _folder_consent(rad, citizen)
    provider = _client(rad, doctor, f"/dicomweb/patients/{pid}")
    provider.search_for_studies()
    provider.search_for_series(str(ct.StudyInstanceUID))
    provider.retrieve_study_metadata(str(ct.StudyInstanceUID))
    log = rad.http.get("/v1/me/access-log", headers=citizen, params={"limit": 100}).json()
    actions = [e["action"] for e in log["items"] if e.get("institution_id") == "hksh"]
    assert actions.count("list_records") == 2 and actions.count("read_content") == 1


def _forget_index(rad: Radiology, pid: str, *, strip: bool) -> None:
    """Make the person's DICOM records look deposited before the index existed: no parts,
    a backlog row, and (``strip``) no viewer attributes in their sealed metadata."""
    with Session(rad.vault.engine) as session:
        session.exec(delete(DicomStudyPart).where(col(DicomStudyPart.person_id) == pid))
        session.add(DicomIndexBacklog(person_id=pid))
        if strip:
            key = rad.vault.keys.get(session, pid)
            for record in session.exec(select(Record).where(Record.person_id == pid)):
                metadata = open_metadata(key, record)
                metadata.pop("dicom", None)
                record.metadata_sealed = seal_metadata(key, record, metadata)
                session.add(record)
        session.commit()


def test_records_from_before_the_index_are_indexed_on_first_use(rad: Radiology) -> None:
    pid, citizen, ct, mr = _person_with_two_studies(rad)
    before = _client(rad, citizen).retrieve_study_metadata(str(ct.StudyInstanceUID))
    _forget_index(rad, pid, strip=True)
    client = _client(rad, citizen)
    assert len(client.search_for_studies()) == 2
    assert client.retrieve_study_metadata(str(ct.StudyInstanceUID)) == before  # from the file
    with Session(rad.vault.engine) as session:
        assert session.get(DicomIndexBacklog, pid) is None
        parts = session.exec(select(DicomStudyPart).where(DicomStudyPart.person_id == pid)).all()
    assert len(parts) == 2 and all(
        ct.StudyInstanceUID.encode() not in p.document_sealed for p in parts
    )
    assert len(client.search_for_series(mr.study_instance_uid)) == 1


def test_withdrawal_leaves_no_index(rad: Radiology) -> None:
    pid, citizen, _, _ = _person_with_two_studies(rad)
    body = {"password": PASSWORD, "confirm": "withdraw"}
    r = rad.http.post("/v1/me/withdraw", headers=citizen, json=body)
    assert r.status_code == 204, r.text
    with Session(rad.vault.engine) as session:
        left = session.exec(select(DicomStudyPart).where(DicomStudyPart.person_id == pid)).all()
    assert left == []


def test_generated_instance_bytes_round_trip_through_the_index(rad: Radiology) -> None:
    """A generated study deposited with the helper (PUT then complete) is indexed too."""
    _, citizen, _, _, contents = rad.deposited(files=2)
    uid = str(pydicom.dcmread(io.BytesIO(contents[0])).StudyInstanceUID)
    [study] = _client(rad, citizen).search_for_studies()
    assert _value(study, "0020000D") == uid and _value(study, "00201208") == 2


PAIRS, ALLOWED_MS, SIGN_LIMIT = 200, 0.2, 130  # as tests/api/test_timing_oracle.py


def _timed(rad: Radiology, path: str, headers: dict[str, str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    r = rad.http.get(path, headers=headers)
    return (time.perf_counter() - started) * 1000, r.content


def test_a_hidden_study_takes_the_same_time_as_a_missing_one(
    rad: Radiology, two_studies: TwoStudies, db_kind: DatabaseKind
) -> None:
    """A nurse (radiology images restricted) asks for a study the person has and for UIDs
    nobody has: 200 interleaved pairs, a sign test on the differences beyond 0.2 ms."""
    if db_kind != "sqlite":
        pytest.skip("a timing test: the SQLite run only")
    pid, citizen, ct, _ = two_studies
    _folder_consent(rad, citizen)
    nurse = rad.world.professional("hksh", "nurse")
    base = f"/dicomweb/patients/{pid}/studies"
    hidden = f"{base}/{ct.StudyInstanceUID}/series"
    missing = [f"{base}/1.2.826.0.1.{secrets.randbelow(10**12)}/series" for _ in range(PAIRS)]
    for _ in range(10):
        _timed(rad, hidden, nurse), _timed(rad, missing[0], nurse)
    slower = {"hidden": 0, "missing": 0}
    for i in range(PAIRS):
        order = (hidden, missing[i]) if i % 2 == 0 else (missing[i], hidden)
        (t1, b1), (t2, b2) = (_timed(rad, path, nurse) for path in order)
        assert b1 == b2
        t_hidden, t_missing = (t1, t2) if order[0] == hidden else (t2, t1)
        if t_hidden - t_missing > ALLOWED_MS:
            slower["hidden"] += 1
        elif t_missing - t_hidden > ALLOWED_MS:
            slower["missing"] += 1
    assert max(slower.values()) < SIGN_LIMIT, slower


def test_a_caregiver_searches_for_the_person_and_nobody_else(
    rad: Radiology, two_studies: TwoStudies
) -> None:
    pid, citizen, ct, _ = two_studies
    son, son_headers = rad.person("Son Of Ct")
    r = rad.http.post("/v1/me/caregivers", headers=citizen, json={"caregiver_id": son})
    assert r.status_code == 201, r.text
    as_parent = _client(rad, {**son_headers, "On-Behalf-Of": pid})
    assert len(as_parent.search_for_studies()) == 2
    assert len(as_parent.retrieve_study_metadata(str(ct.StudyInstanceUID))) == 1
    assert _client(rad, son_headers).search_for_studies() == []  # the son's own: none
    _, stranger = rad.person("Someone Else")
    r = rad.http.get("/dicomweb/studies", headers={**stranger, "On-Behalf-Of": pid})
    assert r.status_code == 404
