"""Reading a deposited study back: the person and HK providers with Personal Folder
consent stream it decrypted on the fly, whole or by HTTP ``Range``; a large upload is
never held in memory on its way in."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from sqlmodel import Session, select

from sim.studies import Study, write_large_file, write_large_instance
from tests.support.radiology import DICOM_NAME, Radiology, rad, radiology_server
from vault.store.tables import AuditEntry

__all__ = ["rad", "radiology_server"]

MiB = 1 << 20


@pytest.fixture(scope="module")
def large() -> bytes:
    """A 2.5 MiB instance, so ranges cross sealed chunk boundaries."""
    buffer = io.BytesIO()
    write_large_instance(buffer, 5 * MiB // 2, Study(patient_name=DICOM_NAME))
    return buffer.getvalue()


def _deposit(rad: Radiology, content: bytes) -> tuple[str, dict[str, str], dict[str, str], str]:
    """(person id, citizen headers, depositor headers, record id) of a completed deposit."""
    pid, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    assert rad.put(depositor, deposit_id, "study.dcm", content).status_code == 201
    assert rad.complete(depositor, deposit_id).status_code == 200
    [record] = rad.my_records(citizen)
    return pid, citizen, depositor, record["id"]


def test_the_person_streams_the_study_back_whole_and_by_range(rad: Radiology, large: bytes) -> None:
    _, citizen, _, record_id = _deposit(rad, large)
    stored = bytes(128) + large[128:]
    url = f"/v1/me/records/{record_id}/content"
    whole = rad.http.get(url, headers=citizen)
    assert whole.status_code == 200 and whole.content == stored
    assert whole.headers["content-type"] == "application/dicom"
    assert whole.headers["accept-ranges"] == "bytes"
    assert int(whole.headers["content-length"]) == len(stored)
    size = len(stored)
    for asked, (start, end) in {
        "bytes=0-99": (0, 99),
        f"bytes={MiB - 10}-{MiB + 10}": (MiB - 10, MiB + 10),  # across a chunk boundary
        "bytes=2000000-": (2000000, size - 1),
        "bytes=-500": (size - 500, size - 1),
        f"bytes=100-{size + 999}": (100, size - 1),
    }.items():
        r = rad.http.get(url, headers={**citizen, "Range": asked})
        assert r.status_code == 206, asked
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.content == stored[start : end + 1], asked
    r = rad.http.get(url, headers={**citizen, "Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
    r = rad.http.get(url, headers={**citizen, "Range": "bytes=0-1,5-9"})
    assert r.status_code == 200 and r.content == stored  # several ranges: the whole object


def test_hk_providers_read_it_with_personal_folder_consent_and_the_person_is_told(
    rad: Radiology, large: bytes
) -> None:
    pid, citizen, depositor, record_id = _deposit(rad, large)
    doctor = rad.world.professional("matilda", "doctor")
    url = f"/v1/patients/{pid}/records/{record_id}/content"
    assert rad.http.get(url, headers=doctor).status_code == 404
    consent = {"institution_id": "matilda", "kind": "one_year", "scopes": ["personal_folder"]}
    assert (
        rad.http.post("/v1/me/sharing-consents", headers=citizen, json=consent).status_code == 201
    )
    r = rad.http.get(url, headers={**doctor, "Range": "bytes=128-131"})
    assert (r.status_code, r.content) == (206, b"DICM")
    assert rad.http.get(url, headers=depositor).status_code == 404  # R5: never the depositor
    with Session(rad.vault.engine) as session:
        reads = session.exec(
            select(AuditEntry).where(
                AuditEntry.person_id == pid, AuditEntry.action == "read_content"
            )
        ).all()
    assert [(e.institution_id, e.allowed) for e in reads] == [
        ("matilda", False),
        ("matilda", True),
        ("hku_sz", False),
    ]


def test_a_large_upload_is_never_held_in_memory(rad: Radiology, tmp_path: Path) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    path = tmp_path / "large.dcm"
    size = write_large_file(path, 48 * MiB, Study(patient_name=DICOM_NAME))
    tracemalloc.start()
    try:
        with open(path, "rb") as body:
            r = rad.http.put(
                f"/v1/radiology/deposits/{deposit_id}/files/large.dcm",
                headers={**depositor, "Content-Type": "application/dicom"},
                content=body,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 201, r.text
    assert r.json()["size"] == size
    assert peak < 16 * MiB, f"{peak / MiB:.1f} MiB traced for a {size / MiB:.0f} MiB upload"
