"""Radiology deposits refuse bad input with a clear problem+json and keep nothing of it:
wrong, expired, revoked or used codes; a depositor not designated that day; files that
are not what they claim, truncated, too large, of another patient; a client that hangs
up half-way; deposits left to expire."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from api.app import create_app
from sim.studies import Study, instance
from tests.api.conftest import START, served_world
from tests.support.http import serving
from tests.support.radiology import (
    DICOM_NAME,
    Radiology,
    include_radiology,
    rad,
    radiology_server,
)
from vault.core.settings import Settings
from vault.store.tables import Record

__all__ = ["rad", "radiology_server"]

STUDY = Study(patient_name=DICOM_NAME)
Deposit = tuple[str, str, dict[str, str]]


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.text


def _open(rad: Radiology, depositor: dict[str, str], code: str) -> httpx.Response:
    return rad.http.post(
        "/v1/radiology/deposits", headers=depositor, json={"authorisation_code": code}
    )


def _nothing_kept(rad: Radiology, pid: str, deposit_id: str, depositor: dict[str, str]) -> None:
    """No record of the person, no blob, no temporary, no file on the receipt."""
    deadline = time.monotonic() + 5
    while rad.temporaries() and time.monotonic() < deadline:
        time.sleep(0.02)  # a request cut off by its client may still be cleaning up
    assert rad.temporaries() == []
    assert rad.objects(pid) == []
    with Session(rad.vault.engine) as session:
        assert session.exec(select(Record).where(Record.person_id == pid)).all() == []
    r = rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=depositor)
    assert r.status_code == 200 and r.json()["files"] == []


@pytest.fixture
def deposit(rad: Radiology) -> Iterator[Deposit]:
    """(person id, deposit id, depositor headers) of an open deposit."""
    pid, citizen = rad.person()
    depositor = rad.depositor()
    yield pid, rad.open_deposit(depositor, rad.authorisation(citizen)), depositor


# -- the authorisation code -------------------------------------------------------------------


def test_a_wrong_code_or_another_institutions_code_is_refused(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    _problem(_open(rad, depositor, "RA-NOT-A-REAL-CODE"), 403, "invalid_authorisation_code")
    code = rad.authorisation(citizen, "zhongshan_chen_xinghai")
    _problem(_open(rad, depositor, code), 403, "invalid_authorisation_code")
    _problem(_open(rad, rad.world.professional("ha"), code), 403, "invalid_authorisation_code")


def test_wrong_codes_lock_the_professional_out(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    for _ in range(9):
        _problem(_open(rad, depositor, "RA-WRONG"), 403, "invalid_authorisation_code")
    locked = _open(rad, depositor, "RA-WRONG")
    _problem(locked, 423, "locked_out")  # the one lock-out answer, as for passcodes and OTPs
    assert int(locked.headers["Retry-After"]) > 0
    still = _open(rad, depositor, rad.authorisation(citizen))
    _problem(still, 423, "locked_out")
    assert int(still.headers["Retry-After"]) > 0


def test_an_expired_code_is_refused(rad: Radiology) -> None:
    _, citizen = rad.person()
    code = rad.authorisation(citizen)
    rad.at(START + timedelta(days=15))  # radiology authorisations last 14 days
    _problem(_open(rad, rad.depositor(), code), 403, "authorisation_expired")


def test_a_revoked_code_is_refused_even_for_an_open_deposit(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    authorisation_id, code = rad.issue(citizen)
    deposit_id = rad.open_deposit(depositor, code)
    assert rad.put(depositor, deposit_id, "a.dcm", instance(STUDY)).status_code == 201
    r = rad.http.delete(f"/v1/me/radiology-authorisations/{authorisation_id}", headers=citizen)
    assert r.status_code == 204
    _problem(_open(rad, depositor, code), 403, "authorisation_revoked")
    _problem(rad.put(depositor, deposit_id, "b.dcm", instance(STUDY)), 403, "authorisation_revoked")
    _problem(rad.complete(depositor, deposit_id), 403, "authorisation_revoked")
    assert rad.my_records(citizen) == []


def test_a_used_code_opens_and_completes_nothing_more(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    code = rad.authorisation(citizen)
    first, second = rad.open_deposit(depositor, code), rad.open_deposit(depositor, code)
    _problem(rad.complete(depositor, first), 409, "empty_deposit")
    for deposit_id in (first, second):
        assert rad.put(depositor, deposit_id, "a.dcm", instance(STUDY)).status_code == 201
    assert rad.complete(depositor, first).status_code == 200
    _problem(rad.complete(depositor, first), 409, "deposit_completed")
    _problem(rad.put(depositor, first, "b.dcm", instance(STUDY)), 409, "deposit_completed")
    _problem(rad.complete(depositor, second), 409, "authorisation_used")
    _problem(_open(rad, depositor, code), 409, "authorisation_used")
    assert len(rad.my_records(citizen)) == 1


def test_a_depositor_not_designated_that_day_is_refused(rad: Radiology) -> None:
    _, citizen = rad.person()
    depositor = rad.depositor()
    code = rad.authorisation(citizen)
    deposit_id = rad.open_deposit(depositor, code)
    rad.at(datetime(2026, 1, 26, 8, 0, tzinfo=START.tzinfo))  # 16:00 in HK, the day before
    depositor = rad.depositor()
    _problem(_open(rad, depositor, code), 403, "not_radiology_depositor")
    _problem(
        rad.put(depositor, deposit_id, "a.dcm", instance(STUDY)), 403, "not_radiology_depositor"
    )
    _problem(rad.complete(depositor, deposit_id), 403, "not_radiology_depositor")


# -- the files ----------------------------------------------------------------------------------

BAD_FILES = [
    (b"%PDF-1.7\n%%EOF\n", "application/dicom", 415, "not_dicom"),
    (os.urandom(4096), "application/dicom", 415, "not_dicom"),
    (instance(STUDY)[:-40], "application/dicom", 422, "dicom_truncated"),
    (instance(STUDY)[:600], "application/dicom", 422, "dicom_truncated"),
    (instance(Study(patient_name="WONG^SIU MING")), "application/dicom", 422, "patient_mismatch"),
    (b"", "application/dicom", 422, "empty_file"),
    (b"just text", "application/pdf", 415, "not_pdf"),
    (b"%PDF-1.7\n1 0 obj <<>> endobj\n", "application/pdf", 422, "pdf_truncated"),
    (b"caf\xe9 au lait", "text/plain", 415, "not_utf8_text"),
    ("報告".encode()[:-1], "text/plain", 415, "not_utf8_text"),
    (b"\x89PNG\r\n", "image/png", 415, "unsupported_media_type"),
]


def test_bad_files_are_refused_and_nothing_is_kept(rad: Radiology, deposit: Deposit) -> None:
    pid, deposit_id, depositor = deposit
    for content, content_type, status, code in BAD_FILES:
        r = rad.put(depositor, deposit_id, "file.bin", content, content_type)
        _problem(r, status, code)
    _problem(
        rad.put(depositor, deposit_id, "..hidden", b"x", "text/plain"), 400, "invalid_file_name"
    )
    _nothing_kept(rad, pid, deposit_id, depositor)
    assert rad.put(depositor, deposit_id, "a.txt", b"x", "text/plain").status_code == 201
    _problem(rad.put(depositor, deposit_id, "a.txt", b"y", "text/plain"), 409, "file_exists")


def test_a_deposit_holds_one_patient_id(rad: Radiology, deposit: Deposit) -> None:
    _, deposit_id, depositor = deposit
    first = Study(patient_name=DICOM_NAME, patient_id="MRN-1")
    other = Study(patient_name=DICOM_NAME, patient_id="MRN-2")
    assert rad.put(depositor, deposit_id, "a.dcm", instance(first)).status_code == 201
    assert rad.put(depositor, deposit_id, "b.dcm", instance(first)).status_code == 201
    _problem(rad.put(depositor, deposit_id, "c.dcm", instance(other)), 422, "patient_mismatch")


def test_a_file_over_the_limit_is_refused_whether_declared_or_streamed(
    rad: Radiology, deposit: Deposit
) -> None:
    pid, deposit_id, depositor = deposit
    rad.service.max_file_bytes = 64 * 1024
    big = instance(STUDY, rows=256, columns=256)  # 128 KiB of pixels
    _problem(rad.put(depositor, deposit_id, "big.dcm", big), 413, "payload_too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    r = rad.http.put(
        f"/v1/radiology/deposits/{deposit_id}/files/big.dcm",
        headers={**depositor, "Content-Type": "application/dicom"},
        content=chunked(),
    )
    _problem(r, 413, "payload_too_large")
    assert r.json()["max_bytes"] == 64 * 1024
    _nothing_kept(rad, pid, deposit_id, depositor)


def test_a_client_hanging_up_half_way_leaves_nothing(rad: Radiology, deposit: Deposit) -> None:
    pid, deposit_id, depositor = deposit
    content = instance(STUDY, rows=1024, columns=1024)  # 2 MiB: more than one chunk
    url = urlsplit(rad.base_url)
    head = (
        f"PUT /v1/radiology/deposits/{deposit_id}/files/cut.dcm HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\nAuthorization: {depositor['Authorization']}\r\n"
        f"Content-Type: application/dicom\r\nContent-Length: {len(content)}\r\n\r\n"
    ).encode()
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port)) as raw:
        raw.sendall(head + content[: len(content) * 3 // 4])
        time.sleep(0.3)
    _nothing_kept(rad, pid, deposit_id, depositor)
    assert rad.put(depositor, deposit_id, "cut.dcm", content).status_code == 201  # a retry works


# -- deposits left to expire ---------------------------------------------------------------


def test_an_abandoned_deposit_is_collected_and_never_visible(rad: Radiology) -> None:
    pid, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    assert rad.put(depositor, deposit_id, "a.dcm", instance(STUDY)).status_code == 201
    assert len(rad.objects(pid)) == 1
    stray = rad.vault.blobs.tmp / "0123abcd.part"  # an upload a crash left behind
    stray.write_bytes(b"sealed bytes")
    os.utime(stray, (time.time() - 2 * 86400,) * 2)

    rad.at(START + timedelta(hours=25))
    depositor, citizen = rad.depositor(), rad.login(pid)
    _problem(rad.put(depositor, deposit_id, "b.dcm", instance(STUDY)), 410, "deposit_expired")
    _problem(rad.complete(depositor, deposit_id), 410, "deposit_expired")
    report = rad.service.collect_abandoned()  # other tests' open deposits expire too
    assert report.abandoned_deposits >= 1 and report.removed_records >= 1
    assert report.removed_temporaries >= 1 and not stray.exists()
    r = rad.http.get(f"/v1/radiology/deposits/{deposit_id}", headers=depositor)
    assert r.json()["state"] == "abandoned"
    _nothing_kept(rad, pid, deposit_id, depositor)
    assert rad.my_records(citizen) == []
    assert rad.service.collect_abandoned().abandoned_deposits == 0


def test_the_server_collects_abandoned_deposits_when_it_starts(rad: Radiology) -> None:
    pid, citizen = rad.person()
    depositor = rad.depositor()
    deposit_id = rad.open_deposit(depositor, rad.authorisation(citizen))
    assert rad.put(depositor, deposit_id, "a.dcm", instance(STUDY)).status_code == 201
    rad.at(START + timedelta(hours=25))
    restarted = create_app(rad.settings, rad.vault)
    include_radiology(restarted)
    with serving(restarted):
        pass
    _nothing_kept(rad, pid, deposit_id, rad.depositor())


def test_the_file_limit_comes_from_the_settings(api_settings: Settings) -> None:
    """``CROSSVAULT_RADIOLOGY_MAX_FILE_BYTES`` reaches the deposit service the routes use
    (which refuses larger files with 413: ``test_a_file_over_the_limit_...`` above); the
    tus endpoint announces it as ``Tus-Max-Size``."""
    settings = api_settings.model_copy(update={"radiology_max_file_bytes": 4096})
    with served_world(settings) as (world, _):
        limit = world.http.options(
            "/v1/radiology/deposits/any/uploads", headers={"Tus-Resumable": "1.0.0"}
        )
        assert int(limit.headers["Tus-Max-Size"]) == 4096
