"""Radiology blobs in S3-compatible object storage (``CROSSVAULT_BLOB_STORE=s3://...``),
end to end against moto's S3 server on loopback: uploads go up as multipart uploads in
bounded memory, reads stream back by HTTP ``Range``, a refused or abandoned upload's parts
are aborted, erasure deletes the person's objects, a lost object is an audited integrity
failure, and a bucket that cannot be used is refused at start-up with nothing written.
(:mod:`tests.api.test_radiology_flow` runs the deposit flow against both backends.)"""

from __future__ import annotations

import io
import socket
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session, select

from sim.studies import Study, instance, write_large_file, write_large_instance
from tests.api.conftest import OPERATOR_SECRET, PASSWORD, START
from tests.support.radiology import DICOM_NAME, S3, Radiology, rad, radiology_server
from tests.support.s3 import S3Server, aws_environment, s3_server
from vault.core.settings import ConfigurationError, Settings
from vault.runtime.opening import Vault
from vault.store.s3blobs import PART_SIZE, S3BlobStore
from vault.store.tables import AuditEntry

__all__ = ["rad", "radiology_server", "s3_server"]

MiB = 1 << 20
STUDY = Study(patient_name=DICOM_NAME)


@pytest.fixture(scope="module")
def blob_backend() -> str:
    return S3


def _store(rad: Radiology) -> S3BlobStore:
    assert isinstance(rad.vault.blobs, S3BlobStore)
    return rad.vault.blobs


def _deposit(rad: Radiology, content: bytes) -> tuple[str, dict[str, str], str]:
    """(person id, citizen headers, record id) of a completed one-file deposit."""
    pid, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    assert rad.put(depositor, deposit_id, "study.dcm", content).status_code == 201
    assert rad.complete(depositor, deposit_id).status_code == 200
    [record] = rad.my_records(citizen)
    return pid, citizen, record["id"]


def test_a_study_of_several_parts_goes_up_sealed_and_streams_back_by_range(
    rad: Radiology,
) -> None:
    buffer = io.BytesIO()
    write_large_instance(buffer, PART_SIZE + 3 * MiB, STUDY)  # two parts
    content = buffer.getvalue()
    pid, citizen, record_id = _deposit(rad, content)
    assert rad.bucket is not None
    [key] = rad.bucket.object_keys(f"crossvault/objects/{pid}/")
    assert key == f"crossvault/objects/{pid}/{record_id}"
    [sealed] = rad.objects(pid)
    assert len(sealed) > len(content) and DICOM_NAME.encode() not in sealed
    assert content[4096 : 4096 + 64] not in sealed  # pixel data: nothing in clear
    assert rad.temporaries() == []  # no local staging left, no multipart upload open

    stored = bytes(128) + content[128:]
    url = f"/v1/me/records/{record_id}/content"
    whole = rad.http.get(url, headers=citizen)
    assert whole.status_code == 200 and whole.content == stored
    size = len(stored)
    for start, end in ((0, 99), (PART_SIZE - 5, PART_SIZE + 5), (size - 500, size - 1)):
        r = rad.http.get(url, headers={**citizen, "Range": f"bytes={start}-{end}"})
        assert r.status_code == 206 and r.content == stored[start : end + 1]


def test_an_upload_raises_memory_by_about_one_part(rad: Radiology, tmp_path: Path) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    path = tmp_path / "large.dcm"
    size = write_large_file(path, 40 * MiB, STUDY)
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
    assert r.status_code == 201 and r.json()["size"] == size, r.text
    # One part buffered and one copy of it on its way up, plus the client's buffers.
    assert peak < 3 * PART_SIZE + 8 * MiB, f"{peak / MiB:.1f} MiB traced for {size / MiB:.0f} MiB"


def test_a_client_hanging_up_aborts_its_multipart_upload(rad: Radiology) -> None:
    pid, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    buffer = io.BytesIO()
    write_large_instance(buffer, PART_SIZE + 2 * MiB, STUDY)
    content = buffer.getvalue()
    url = urlsplit(rad.base_url)
    head = (
        f"PUT /v1/radiology/deposits/{deposit_id}/files/cut.dcm HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\nAuthorization: {depositor['Authorization']}\r\n"
        f"Content-Type: application/dicom\r\nContent-Length: {len(content)}\r\n\r\n"
    ).encode()
    assert url.hostname is not None and url.port is not None and rad.bucket is not None
    with socket.create_connection((url.hostname, url.port)) as raw:
        raw.sendall(head + content[: PART_SIZE + MiB])  # one part went up
        deadline = time.monotonic() + 10
        while not rad.bucket.uploads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rad.bucket.uploads(), "the upload never reached the bucket"
    deadline = time.monotonic() + 10
    while rad.temporaries() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rad.temporaries() == [] and rad.objects(pid) == []


def test_an_abandoned_deposit_and_a_crashed_upload_are_collected(rad: Radiology) -> None:
    pid, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    assert rad.put(depositor, deposit_id, "a.dcm", instance(STUDY)).status_code == 201
    assert len(rad.objects(pid)) == 1
    crashed = _store(rad).pending(pid, "0123abcd")  # a process killed mid-upload left this
    crashed.write(b"sealed bytes")
    assert rad.bucket is not None and rad.bucket.uploads()

    rad.at(START + timedelta(hours=25))
    report = rad.service.collect_abandoned(now=START + timedelta(hours=25))
    assert report.abandoned_deposits >= 1 and report.removed_records >= 1
    assert rad.objects(pid) == [] and rad.bucket.uploads() != []  # begun just now: kept
    later = time.time() + 2 * 86400
    assert _store(rad).collect_temporaries(rad.service.stale_upload_seconds, now=later) >= 1
    assert rad.bucket.uploads() == []


def test_withdrawal_deletes_the_persons_objects(rad: Radiology) -> None:
    pid, citizen, _ = _deposit(rad, instance(STUDY))
    other, _, _ = _deposit(rad, instance(STUDY))
    assert rad.objects(pid) and rad.objects(other)
    r = rad.http.post(
        "/v1/me/withdraw", headers=citizen, json={"password": PASSWORD, "confirm": "withdraw"}
    )
    assert r.status_code == 204, r.text
    assert rad.objects(pid) == [] and len(rad.objects(other)) == 1


def test_a_lost_object_is_an_audited_integrity_failure(rad: Radiology) -> None:
    pid, citizen, record_id = _deposit(rad, instance(STUDY))
    assert rad.bucket is not None
    [key] = rad.bucket.object_keys(f"crossvault/objects/{pid}/")
    rad.bucket.server.client().delete_object(Bucket=rad.bucket.name, Key=key)
    r = rad.http.get(f"/v1/me/records/{record_id}/content", headers=citizen)
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "integrity_failure" and "Traceback" not in r.text
    with Session(rad.vault.engine) as session:
        reasons = session.exec(
            select(AuditEntry.reason).where(
                AuditEntry.person_id == pid, AuditEntry.action == "read_content"
            )
        ).all()
    assert "integrity_failure" in reasons


@pytest.mark.parametrize(
    ("change", "blob_store", "reason"),
    [
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, None, "unreachable"),
        ({}, "s3://no-such-bucket-here/x", "no such bucket"),
        ({}, "s3://Not_A_Bucket/x", "is not s3://bucket/prefix"),
    ],
)
def test_a_bucket_that_cannot_be_used_is_refused_at_start_with_nothing_written(
    s3_server: S3Server,
    tmp_path: Path,
    change: dict[str, str],
    blob_store: str | None,
    reason: str,
) -> None:
    bucket = s3_server.bucket()
    data_dir = tmp_path / "data"
    with aws_environment(s3_server), pytest.MonkeyPatch.context() as patch:
        for name, value in change.items():
            patch.setenv(name, value)
        with pytest.raises(ConfigurationError) as refused:
            settings = Settings(
                data_dir=data_dir,
                operator_secret=OPERATOR_SECRET,
                blob_store=blob_store or bucket.url,
            )
            Vault.open(settings)
    message = str(refused.value)
    assert message.startswith("CROSSVAULT_BLOB_STORE") and reason in message
    assert "\n" not in message
    assert not data_dir.exists()  # nothing written: no database, no keyring
    assert bucket.object_keys() == [] and bucket.uploads() == []
