"""Radiology deposits end to end: open with the code, stream files, complete. Nothing is
visible before ``complete``; everything is at once after; the depositor sees only its
receipt (R5)."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import Session, select

from sim.studies import Study, instance
from tests.support.radiology import (
    DEPOSITOR,
    DICOM_NAME,
    LOCAL,
    S3,
    Radiology,
    rad,
    radiology_server,
)
from tests.support.s3 import s3_server
from vault.records.sealed import open_metadata, record_title
from vault.store.tables import Notification, Record

__all__ = ["rad", "radiology_server", "s3_server"]


@pytest.fixture(scope="module", params=[LOCAL, S3])
def blob_backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs with blobs in the data dir and in an S3 bucket."""
    backend: str = request.param
    return backend


REPORT = "Impression: no active lung lesion.\nReported by Dr Lam 林醫生".encode()
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _records(rad: Radiology, pid: str) -> list[Record]:
    with Session(rad.vault.engine) as session:
        return list(session.exec(select(Record).where(Record.person_id == pid)))


def test_a_deposit_is_invisible_until_complete_then_visible_at_once(rad: Radiology) -> None:
    pid, citizen = rad.person()
    depositor = rad.depositor()
    authorisation_id, code = rad.issue(citizen)
    r = rad.http.post(
        "/v1/radiology/deposits",
        headers=depositor,
        json={"authorisation_code": code, "clinical_date": "2026-03-01"},
    )
    assert r.status_code == 201, r.text
    opened = r.json()
    assert set(opened) == {
        "deposit_id",
        "state",
        "clinical_date",
        "created_at",
        "expires_at",
        "completed_at",
        "files",
    }  # nothing about the person
    deposit_id = opened["deposit_id"]
    study = Study(patient_name=DICOM_NAME)
    assert rad.put(depositor, deposit_id, "ct-1.dcm", instance(study)).status_code == 201
    assert rad.put(depositor, deposit_id, "ct-2.dcm", instance(study)).status_code == 201
    assert rad.put(depositor, deposit_id, "report.pdf", PDF, "application/pdf").status_code == 201
    assert rad.put(depositor, deposit_id, "report.txt", REPORT, "text/plain").status_code == 201

    pending = _records(rad, pid)
    assert len(pending) == 4 and {r.state for r in pending} == {"pending"}
    assert rad.my_records(citizen) == []
    for record in pending:
        assert rad.http.get(f"/v1/me/records/{record.id}", headers=citizen).status_code == 404

    r = rad.complete(depositor, deposit_id)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "completed"
    visible = rad.my_records(citizen)
    assert sorted(item["category"] for item in visible) == [
        "radiology_images",
        "radiology_images",
        "radiology_report",
        "radiology_report",
    ]
    assert {item["source"] for item in visible} == {"personal_folder"}
    assert {item["depositor_institution_id"] for item in visible} == {DEPOSITOR}
    assert {r.state for r in _records(rad, pid)} == {"committed"}

    r = rad.http.get(f"/v1/me/radiology-authorisations/{authorisation_id}", headers=citizen)
    assert r.json()["status"] == "used"
    with Session(rad.vault.engine) as session:
        events = session.exec(select(Notification.event).where(Notification.person_id == pid))
        assert "radiology_deposit" in list(events)


def test_records_carry_sealed_dicom_metadata_and_their_dates(rad: Radiology) -> None:
    study = Study(patient_name=DICOM_NAME, study_date="20260227", body_part="HEAD", modality="MR")
    pid, *_ = rad.deposited(study)
    [record] = _records(rad, pid)
    with Session(rad.vault.engine) as session:
        key = rad.vault.keys.get(session, pid)
    metadata = open_metadata(key, record)
    assert metadata["study_instance_uid"] == study.study_instance_uid
    assert metadata["series_instance_uid"] == study.series_instance_uid
    assert (metadata["modality"], metadata["body_part_examined"]) == ("MR", "HEAD")
    assert metadata["study_date"] == "2026-02-27" == record.clinical_date.isoformat()
    assert len(metadata["sop_instance_uid"]) > 10
    assert record_title(key, record) == "Radiology images: MR HEAD"
    assert study.study_instance_uid.encode() not in (record.metadata_sealed or b"")
    assert record.body_sealed is None and record.blob_name == record.id


def test_nothing_of_the_file_is_stored_in_clear(rad: Radiology) -> None:
    pid, *_, contents = rad.deposited()
    [sealed] = rad.objects(pid)
    assert b"CHAN^TAI MAN" not in sealed and contents[0][132:400] not in sealed
    assert rad.temporaries() == []


def test_the_receipt_shows_names_sizes_digests_and_states_only(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    polyglot = instance(Study(patient_name=DICOM_NAME), preamble=b"MZ\x90\x00 payload")
    assert rad.put(depositor, deposit_id, "ct.dcm", polyglot).status_code == 201
    assert rad.put(depositor, deposit_id, "report.txt", REPORT, "text/plain").status_code == 201
    r = rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=depositor)
    assert r.status_code == 200
    files = {f["name"]: f for f in r.json()["files"]}
    stored_dicom = bytes(128) + polyglot[128:]  # the preamble is zeroed before storage
    assert files["ct.dcm"]["sha256"] == hashlib.sha256(stored_dicom).hexdigest()
    assert files["ct.dcm"]["size"] == len(polyglot)
    assert files["report.txt"]["sha256"] == hashlib.sha256(REPORT).hexdigest()
    assert {f["state"] for f in files.values()} == {"stored"}
    assert set(files["ct.dcm"]) == {
        "name",
        "content_type",
        "category",
        "state",
        "size",
        "sha256",
        "upload_length",
    }


def test_the_depositor_sees_its_receipt_but_never_a_record(rad: Radiology) -> None:
    pid, citizen, depositor, deposit_id, _ = rad.deposited()
    [record] = rad.my_records(citizen)
    assert (
        rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=depositor).status_code == 200
    )
    for path in (
        f"/v1/patients/{pid}/records",
        f"/v1/patients/{pid}/records/{record['id']}",
        f"/v1/patients/{pid}/records/{record['id']}/content",
    ):
        assert rad.http.get(path, headers=depositor).status_code == 404, path
    colleague = rad.depositor()  # same institution: its receipts are the institution's
    assert (
        rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=colleague).status_code == 200
    )
    stranger = rad.depositor("zhongshan_chen_xinghai")
    r = rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=stranger)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert rad.complete(stranger, deposit_id).status_code == 404


def test_the_person_cannot_use_the_depositor_endpoints(rad: Radiology) -> None:
    _, citizen = rad.person()
    code = rad.authorisation(citizen)
    r = rad.http.post("/v1/radiology/deposits", headers=citizen, json={"authorisation_code": code})
    assert r.status_code == 403 and r.json()["code"] == "wrong_role"
