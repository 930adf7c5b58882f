"""Resumable uploads (tus 1.0 core + creation) driven by the ``tuspy`` client: whole
files in pieces that do not fit the sealed chunks, resumption after a restart or a
dropped connection, and the protocol's refusals."""

from __future__ import annotations

import hashlib
import io
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from tusclient.uploader.uploader import Uploader

from sim.studies import Study, instance, write_large_instance
from tests.support.radiology import DICOM_NAME, Radiology, rad, radiology_server

__all__ = ["rad", "radiology_server"]

KiB, MiB = 1024, 1 << 20
STUDY = Study(patient_name=DICOM_NAME)


@pytest.fixture(scope="module")
def study_file() -> bytes:
    """A 2.5 MiB DICOM instance: three sealed chunks, the last one partial."""
    buffer = io.BytesIO()
    write_large_instance(buffer, 5 * MiB // 2, STUDY)
    return buffer.getvalue()


@pytest.fixture
def deposit(rad: Radiology) -> Iterator[tuple[str, str, dict[str, str]]]:
    pid, citizen = rad.person()
    depositor = rad.depositor()
    yield pid, rad.open_deposit(depositor, rad.authorisation(citizen)), depositor


def _client(rad: Radiology, deposit_id: str, depositor: dict[str, str]) -> tus_client.TusClient:
    return tus_client.TusClient(
        f"{rad.base_url}/v1/radiology/deposits/{deposit_id}/uploads", headers=depositor
    )


def _uploader(
    client: tus_client.TusClient, content: bytes, *, chunk_size: int, url: str | None = None
) -> Uploader:
    return client.uploader(
        file_stream=io.BytesIO(content),
        chunk_size=chunk_size,
        url=url,
        metadata={"filename": "study.dcm", "content_type": "application/dicom"},
    )


def _upload_chunk(uploader: Any) -> None:
    uploader.upload_chunk()  # tuspy leaves this method unannotated


def _receipt(rad: Radiology, deposit_id: str, depositor: dict[str, str]) -> list[dict[str, object]]:
    r = rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=depositor)
    assert r.status_code == 200
    files: list[dict[str, object]] = r.json()["files"]
    return files


def _temporaries(rad: Radiology, upload_url: str) -> list[str]:
    upload_id = upload_url.rstrip("/").rsplit("/", 1)[-1]
    return sorted(p.name for p in rad.temporaries() if upload_id in p.name)


def _stored(content: bytes) -> str:
    return hashlib.sha256(bytes(128) + content[128:]).hexdigest()


def test_a_file_uploads_in_pieces_that_do_not_fit_the_chunks(
    rad: Radiology, deposit: tuple[str, str, dict[str, str]], study_file: bytes
) -> None:
    _, deposit_id, depositor = deposit
    uploader = _uploader(_client(rad, deposit_id, depositor), study_file, chunk_size=300 * KiB)
    uploader.upload()
    [stored] = _receipt(rad, deposit_id, depositor)
    assert (stored["state"], stored["size"]) == ("stored", len(study_file))
    assert stored["sha256"] == _stored(study_file)
    assert uploader.url is not None and _temporaries(rad, uploader.url) == []
    assert rad.complete(depositor, deposit_id).status_code == 200


def test_an_upload_resumes_after_a_restart_from_the_last_offset(
    rad: Radiology, deposit: tuple[str, str, dict[str, str]], study_file: bytes
) -> None:
    _, deposit_id, depositor = deposit
    client = _client(rad, deposit_id, depositor)
    first = _uploader(client, study_file, chunk_size=700 * KiB)
    first.set_url(first.create_url())
    _upload_chunk(first)
    _upload_chunk(first)
    assert first.offset == 1400 * KiB
    [uploading] = _receipt(rad, deposit_id, depositor)
    assert (uploading["state"], uploading["upload_length"]) == ("uploading", len(study_file))

    rad.service.forget_live_uploads()  # as a restart would: rebuilt from the sealed files
    resumed = _uploader(client, study_file, chunk_size=1 * MiB, url=first.url)
    assert resumed.offset == 1400 * KiB  # HEAD: whole chunks plus the sealed tail
    resumed.upload()
    [stored] = _receipt(rad, deposit_id, depositor)
    assert (stored["state"], stored["sha256"]) == ("stored", _stored(study_file))


def test_an_upload_resumes_after_the_connection_drops_mid_patch(
    rad: Radiology, deposit: tuple[str, str, dict[str, str]], study_file: bytes
) -> None:
    _, deposit_id, depositor = deposit
    client = _client(rad, deposit_id, depositor)
    uploader = _uploader(client, study_file, chunk_size=len(study_file))
    url = uploader.create_url()
    target = urlsplit(url)
    assert target.hostname is not None and target.port is not None
    sent = 1600 * KiB
    head = (
        f"PATCH {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
        f"Authorization: {depositor['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(study_file)}\r\n\r\n"
    ).encode()
    with socket.create_connection((target.hostname, target.port)) as raw:
        raw.sendall(head + study_file[:sent])
        time.sleep(0.3)

    deadline = time.monotonic() + 5
    resumed = _uploader(client, study_file, chunk_size=512 * KiB, url=url)
    while resumed.offset <= MiB and time.monotonic() < deadline:
        time.sleep(0.05)  # the server keeps what arrived once it notices the hang-up
        resumed = _uploader(client, study_file, chunk_size=512 * KiB, url=url)
    assert MiB < resumed.offset <= sent  # all it received: a whole chunk and a tail
    resumed.upload()
    [stored] = _receipt(rad, deposit_id, depositor)
    assert stored["sha256"] == _stored(study_file)


def test_a_torn_upload_starts_again_from_zero(
    rad: Radiology, deposit: tuple[str, str, dict[str, str]], study_file: bytes
) -> None:
    _, deposit_id, depositor = deposit
    client = _client(rad, deposit_id, depositor)
    first = _uploader(client, study_file, chunk_size=1200 * KiB)
    first.set_url(first.create_url())
    _upload_chunk(first)
    assert first.url is not None
    main, _tail = _temporaries(rad, first.url)
    with open(rad.vault.blobs.tmp / main, "ab") as torn:  # a crash in the middle of writing a chunk
        torn.write(b"\x00" * 100)
    rad.service.forget_live_uploads()
    resumed = _uploader(client, study_file, chunk_size=1 * MiB, url=first.url)
    assert resumed.offset == 0
    resumed.upload()
    [stored] = _receipt(rad, deposit_id, depositor)
    assert stored["sha256"] == _stored(study_file)


def test_a_refused_file_ends_its_upload(
    rad: Radiology, deposit: tuple[str, str, dict[str, str]]
) -> None:
    _, deposit_id, depositor = deposit
    stranger = instance(Study(patient_name="WONG^SIU MING"))
    uploader = _uploader(_client(rad, deposit_id, depositor), stranger, chunk_size=MiB)
    with pytest.raises(Exception) as refused:
        uploader.upload()
    assert getattr(refused.value, "status_code", None) == 422
    assert _receipt(rad, deposit_id, depositor) == []
    assert uploader.url is not None and _temporaries(rad, uploader.url) == []
    with pytest.raises(TusCommunicationError):
        uploader.get_offset()  # 404: the upload is gone


def test_the_protocol_is_checked(rad: Radiology, deposit: tuple[str, str, dict[str, str]]) -> None:
    _, deposit_id, depositor = deposit
    uploads = f"/v1/radiology/deposits/{deposit_id}/uploads"
    r = rad.http.options(uploads)
    assert r.status_code == 204
    assert (r.headers["Tus-Version"], r.headers["Tus-Extension"]) == ("1.0.0", "creation")
    assert int(r.headers["Tus-Max-Size"]) == rad.service.max_file_bytes
    tus = {**depositor, "Tus-Resumable": "1.0.0"}
    meta = "filename cmVwb3J0LnR4dA==,content_type dGV4dC9wbGFpbg=="  # report.txt, text/plain

    def problem(r: httpx.Response, status: int, code: str) -> None:
        assert (r.status_code, r.json()["code"]) == (status, code), r.text

    no_version = {**depositor, "Upload-Length": "5", "Upload-Metadata": meta}
    problem(rad.http.post(uploads, headers=no_version), 412, "tus_version_unsupported")
    problem(
        rad.http.post(uploads, headers={**tus, "Upload-Metadata": meta}), 400, "invalid_tus_header"
    )
    too_big = {**tus, "Upload-Length": str(rad.service.max_file_bytes + 1), "Upload-Metadata": meta}
    problem(rad.http.post(uploads, headers=too_big), 413, "payload_too_large")
    png = {
        **tus,
        "Upload-Length": "5",
        "Upload-Metadata": "filename YS5wbmc=,content_type aW1hZ2UvcG5n",
    }
    problem(rad.http.post(uploads, headers=png), 415, "unsupported_media_type")

    r = rad.http.post(uploads, headers={**tus, "Upload-Length": "11", "Upload-Metadata": meta})
    assert r.status_code == 201
    url = r.headers["Location"]
    patch = {**tus, "Content-Type": "application/offset+octet-stream"}
    problem(
        rad.http.patch(url, headers={**patch, "Upload-Offset": "3"}, content=b"x"),
        409,
        "upload_offset_mismatch",
    )
    problem(
        rad.http.patch(url, headers={**patch, "Upload-Offset": "0"}, content=b"0123456789ab"),
        413,
        "upload_too_long",
    )
    problem(
        rad.http.patch(
            url, headers={**tus, "Upload-Offset": "0", "Content-Type": "text/plain"}, content=b"x"
        ),
        415,
        "unsupported_media_type",
    )
    r = rad.http.patch(url, headers={**patch, "Upload-Offset": "0"}, content=b"Impression")
    assert (r.status_code, r.headers["Upload-Offset"]) == (204, "10")
    r = rad.http.head(url, headers=tus)
    assert (r.headers["Upload-Offset"], r.headers["Upload-Length"]) == ("10", "11")
    r = rad.http.patch(url, headers={**patch, "Upload-Offset": "10"}, content=b".")
    assert (r.status_code, r.headers["Upload-Offset"]) == (204, "11")
    problem(
        rad.http.patch(url, headers={**patch, "Upload-Offset": "11"}, content=b""),
        409,
        "upload_complete",
    )
    stranger = rad.depositor("zhongshan_chen_xinghai")
    assert rad.http.head(url, headers={**stranger, "Tus-Resumable": "1.0.0"}).status_code == 404
