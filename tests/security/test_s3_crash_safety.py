"""A real ``crossvault serve`` keeping its blobs in S3 (moto's server on loopback) is
SIGKILLed in the middle of a radiology upload whose first part already reached the
bucket: after a restart nothing of the file is visible or stored as an object, its parts
are aborted once the upload is stale, nothing in the bucket or the data dir holds the
file's plaintext, and the retried upload completes. A bucket that cannot be used stops
``serve`` at once in one line naming the setting."""

from __future__ import annotations

import io
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from sim.studies import Study, write_large_instance
from tests.security.support_servers import (
    DICOM_NAME,
    OPERATOR_SECRET,
    Deployment,
    Population,
    Server,
    all_records,
    files_containing,
)
from tests.support.databases import DatabaseKind
from tests.support.s3 import Bucket, S3Server, aws_environment, s3_server
from vault.core.settings import Settings
from vault.runtime.opening import Vault
from vault.store.s3blobs import PART_SIZE

__all__ = ["s3_server"]


@pytest.fixture(autouse=True)
def _sqlite_run_only(db_kind: DatabaseKind) -> None:
    """The S3 store's crash behaviour does not depend on the database; the PostgreSQL run
    of the suite keeps its time for what does."""
    if db_kind != "sqlite":
        pytest.skip("S3 crash safety runs in the SQLite run of the suite")


CANARY = "S3CANARY7731"
MiB = 1 << 20


def _upload_until_a_part_is_up(
    server: Server, population: Population, bucket: Bucket, content: bytes
) -> tuple[str, socket.socket]:
    """Open a deposit for the person, start a PUT of ``content`` (two parts), send a part
    and a half and wait until the bucket holds its multipart upload: (the deposit id, the
    connection, left open so the server never sees a hang-up before it is killed)."""
    person = population.persons[0]
    with server.client() as http:
        answer = http.post(
            "/v1/me/radiology-authorisations",
            headers=person.headers,
            json={"institution_id": "hku_sz"},
        )
        code = answer.json()["authorisation_code"]
        opened = http.post(
            "/v1/radiology/deposits",
            headers=population.radiographer,
            json={"authorisation_code": code},
        )
    deposit_id: str = opened.json()["deposit_id"]
    url = urlsplit(server.base)
    head = (
        f"PUT /v1/radiology/deposits/{deposit_id}/files/cut.dcm HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\nAuthorization: {population.radiographer['Authorization']}\r\n"
        f"Content-Type: application/dicom\r\nContent-Length: {len(content)}\r\n\r\n"
    ).encode()
    assert url.hostname is not None and url.port is not None
    raw = socket.create_connection((url.hostname, url.port))
    raw.sendall(head + content[: PART_SIZE + PART_SIZE // 2])
    deadline = time.monotonic() + 20
    while not bucket.uploads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bucket.uploads(), "no multipart upload reached the bucket"
    return deposit_id, raw


def _large_file() -> bytes:
    buffer = io.BytesIO()
    write_large_instance(
        buffer, PART_SIZE + 3 * MiB, Study(patient_name=DICOM_NAME, patient_id=CANARY)
    )
    return buffer.getvalue()


def test_a_kill_mid_upload_leaves_no_object_and_its_parts_are_aborted(
    deployment: Deployment, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    deployment.extra_env = {**s3_server.env(), "CROSSVAULT_BLOB_STORE": bucket.url}
    server = Server(deployment)
    server.start()
    try:
        with server.client() as http:
            population = Population.create(http, persons=1)
        content = _large_file()
        deposit_id, raw = _upload_until_a_part_is_up(server, population, bucket, content)
        server.kill()
        raw.close()
        server.start()
        person = population.persons[0]
        with server.client() as http:
            assert all_records(http, person.headers) == []
        assert [k for k in bucket.object_keys() if "/objects/" in k] == []  # no object published
        assert bucket.uploads() != []  # its parts wait for the grace period ...
        with aws_environment(s3_server):
            settings = Settings(**_settings_of(deployment, bucket))
            vault = Vault.open(settings)
            try:
                assert vault.blobs.collect_temporaries(3600, now=time.time() + 7200) >= 1
            finally:
                vault.close()
        assert bucket.uploads() == [] and bucket.object_keys() == []  # ... then go, markers too
        with server.client(timeout=60) as http:
            retried = http.put(
                f"/v1/radiology/deposits/{deposit_id}/files/cut.dcm",
                headers={**population.radiographer, "Content-Type": "application/dicom"},
                content=content,
            )
        assert retried.status_code == 201, retried.text
        stored = [bucket.read(key) for key in bucket.object_keys()]
        assert stored and not any(CANARY.encode() in blob for blob in stored)
        assert files_containing(deployment.data_dir, CANARY.encode()) == []
    finally:
        server.stop()


def _settings_of(deployment: Deployment, bucket: Bucket) -> dict[str, object]:
    values: dict[str, object] = {
        "data_dir": deployment.data_dir,
        "operator_secret": OPERATOR_SECRET,
        "blob_store": bucket.url,
    }
    if deployment.database_url is not None:
        values["database_url"] = deployment.database_url
    return values


def test_serve_refuses_a_bucket_it_cannot_use_in_one_line(
    deployment: Deployment, s3_server: S3Server
) -> None:
    deployment.extra_env = {**s3_server.env(), "CROSSVAULT_BLOB_STORE": "s3://no-such-bucket/x"}
    run = deployment.cli("serve", "--port", "9", timeout=60)
    assert run.code == 2, run.output
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert lines == [
        "crossvault: CROSSVAULT_BLOB_STORE: bucket 'no-such-bucket' cannot be used: no such bucket"
    ], run.output
    assert "Traceback" not in run.output
    if deployment.database_url is None:
        assert not (deployment.data_dir / "crossvault.db").exists()
    with httpx.Client() as http:  # the S3 server is still there, untouched
        assert http.get(s3_server.endpoint).status_code == 200
