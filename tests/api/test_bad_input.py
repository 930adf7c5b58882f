"""Bad input over real HTTP: every refusal is a 4xx problem+json with a stable code, echoes
nothing back, shows no traceback, and stores nothing (issue 4, "Bad input")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlmodel import Session, SQLModel, func, select

from api import errors
from api.limits import BodyLimits, BodyRule, MiB
from tests.api.conftest import World
from tests.support.http import client, serving
from vault.store.tables import AuditEntry, Person, Professional, Record

MARKER = "Zebra-7c1f-marker"  # a value that must never come back in a response body
STORED = (Person, Professional, Record, AuditEntry)


def stored_rows(world: World) -> dict[str, int]:
    with Session(world.vault.engine) as session:
        return {table.__name__: _count(session, table) for table in STORED}


def _count(session: Session, table: type[SQLModel]) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


@contextmanager
def nothing_stored(world: World, *, decisions_audited: bool = False) -> Iterator[None]:
    """No row is added; with ``decisions_audited``, except the audit entries of the
    refusals the policy made (every decision is audited, denials too)."""
    before = stored_rows(world)
    yield
    after = stored_rows(world)
    if decisions_audited:
        del before["AuditEntry"], after["AuditEntry"]
    assert after == before


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"].endswith(f"/{code}") and body["title"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert MARKER not in response.text
    return body


def deposit_body(**changes: Any) -> dict[str, Any]:
    body = {
        "category": "lab_report",
        "clinical_date": "2025-06-01",
        "title": "HbA1c",
        "content": f"HbA1c 6.1% {MARKER}",
        "content_type": "text/plain",
    }
    return body | changes


@pytest.fixture
def patient(world: World) -> tuple[str, dict[str, str], dict[str, str]]:
    """A person (id, their headers) and an HA doctor's headers."""
    pid, me = world.person()
    return pid, me, world.professional("ha")


Patient = tuple[str, dict[str, str], dict[str, str]]


# --- routing ------------------------------------------------------------------------


def test_an_unknown_route_is_the_plain_404(world: World) -> None:
    with nothing_stored(world):
        got = world.http.get("/v1/no-such-thing")
        posted = world.http.post("/v1/no-such-thing", json={"x": MARKER})
    assert_problem(got, 404, "not_found")
    assert_problem(posted, 404, "not_found")
    assert got.content == posted.content


def test_a_wrong_method_is_405_with_allow(world: World, patient: Patient) -> None:
    _, me, _ = patient
    with nothing_stored(world):
        put = world.http.put("/v1/persons", headers=world.operator, json={"name": MARKER})
        delete = world.http.delete("/v1/me/records", headers=me)
    assert_problem(put, 405, "method_not_allowed")
    assert "POST" in put.headers["allow"]
    assert_problem(delete, 405, "method_not_allowed")


# --- bodies: size, media type, encoding, syntax ----------------------------------------


def test_an_oversized_body_is_413_before_reading_it(world: World, patient: Patient) -> None:
    pid, _, ha = patient
    body = deposit_body(content="x" * (2 * MiB))
    with nothing_stored(world):
        response = world.http.post(f"/v1/patients/{pid}/records", headers=ha, json=body)
    problem = assert_problem(response, 413, "payload_too_large")
    assert problem["max_bytes"] == 2 * MiB


def test_an_oversized_chunked_body_is_413_as_it_streams(world: World, patient: Patient) -> None:
    pid, _, ha = patient

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"category": "lab_report", "content": "'
        for _ in range(40):
            yield b"y" * 64 * 1024
        yield b'"}'

    headers = ha | {"Content-Type": "application/json"}
    with nothing_stored(world):
        response = world.http.post(f"/v1/patients/{pid}/records", headers=headers, content=chunks())
    assert_problem(response, 413, "payload_too_large")


def test_the_token_endpoint_takes_only_small_bodies(world: World) -> None:
    response = world.http.post(
        "/v1/auth/token", data={"grant_type": "password", "username": "x", "password": "p" * 70_000}
    )
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"Content-Type": "text/plain"}, b"{}"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"category=lab_report"),
        ({"Content-Type": "multipart/form-data; boundary=b"}, b"--b--"),
        ({"Content-Type": "application/xml"}, b"<record/>"),
        ({}, b"{}"),  # no Content-Type at all
        ({"Content-Type": "application/json; charset=latin-1"}, b"{}"),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"\x1f\x8b"),
    ],
    ids=["text", "form", "multipart", "xml", "none", "latin-1", "gzip"],
)
def test_a_json_endpoint_refuses_other_media_types(
    world: World, patient: Patient, headers: dict[str, str], content: bytes
) -> None:
    pid, _, ha = patient
    with nothing_stored(world):
        response = world.http.post(
            f"/v1/patients/{pid}/records", headers=ha | headers, content=content
        )
    assert_problem(response, 415, "unsupported_media_type")
    assert "application/json" in response.headers["accept"]


def test_json_suffix_media_types_are_json(world: World, patient: Patient) -> None:
    pid, _, ha = patient
    headers = ha | {"Content-Type": "application/merge-patch+json; charset=UTF-8"}
    response = world.http.post(
        f"/v1/patients/{pid}/records",
        headers=headers,
        content=httpx.Request("POST", "/", json=deposit_body()).content,
    )
    assert response.status_code == 201, response.text


def test_the_token_endpoint_takes_only_forms(world: World) -> None:
    response = world.http.post("/v1/auth/token", json={"grant_type": "password"})
    assert_problem(response, 415, "unsupported_media_type")
    assert response.headers["accept"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "content",
    [
        '{"title": "caf\xe9"}'.encode("latin-1"),
        b'{"title": "\xff\xfe"}',
        '{"title": "x"}'.encode("utf-16"),
        b'{"title": "\xed\xa0\x80"}',  # an encoded UTF-16 surrogate is not UTF-8
    ],
    ids=["latin-1", "invalid-bytes", "utf-16", "encoded-surrogate"],
)
def test_a_non_utf8_json_body_is_invalid_encoding(
    world: World, patient: Patient, content: bytes
) -> None:
    pid, _, ha = patient
    headers = ha | {"Content-Type": "application/json"}
    with nothing_stored(world):
        response = world.http.post(f"/v1/patients/{pid}/records", headers=headers, content=content)
    assert_problem(response, 400, "invalid_encoding")


def test_a_non_utf8_form_is_invalid_encoding(world: World) -> None:
    response = world.http.post(
        "/v1/auth/token",
        content=b"grant_type=password&username=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 400, "invalid_encoding")


def test_an_escaped_lone_surrogate_is_refused(world: World, patient: Patient) -> None:
    pid, _, ha = patient
    headers = ha | {"Content-Type": "application/json"}
    body = httpx.Request("POST", "/", json=deposit_body()).content.replace(b'"HbA1c"', b'"\\ud800"')
    with nothing_stored(world):
        response = world.http.post(f"/v1/patients/{pid}/records", headers=headers, content=body)
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    "content",
    [b"{bad json", b'{"category": "lab_report",}', b"'single'", b"[" * 100_000, b"\x00"],
    ids=["unquoted", "trailing-comma", "single-quotes", "deeply-nested", "nul"],
)
def test_malformed_json_is_400_malformed_json(
    world: World, patient: Patient, content: bytes
) -> None:
    pid, _, ha = patient
    headers = ha | {"Content-Type": "application/json"}
    with nothing_stored(world):
        response = world.http.post(f"/v1/patients/{pid}/records", headers=headers, content=content)
    assert_problem(response, 400, "malformed_json")


def test_an_empty_body_fails_validation(world: World, patient: Patient) -> None:
    pid, _, ha = patient
    with nothing_stored(world):
        response = world.http.post(
            f"/v1/patients/{pid}/records", headers=ha | {"Content-Type": "application/json"}
        )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["body"]


def test_a_body_that_is_not_an_object_fails_validation(world: World, patient: Patient) -> None:
    pid, _, ha = patient
    with nothing_stored(world):
        response = world.http.post(f"/v1/patients/{pid}/records", headers=ha, json=[deposit_body()])
    assert_problem(response, 422, "validation_failed")


# --- bodies: schema --------------------------------------------------------------------


def test_unknown_fields_are_refused_without_echoing_them(world: World, patient: Patient) -> None:
    pid, _, ha = patient
    with nothing_stored(world):
        deposit = world.http.post(
            f"/v1/patients/{pid}/records", headers=ha, json=deposit_body(person_id=MARKER)
        )
        person = world.http.post(
            "/v1/persons",
            headers=world.operator,
            json={
                "name": "Chan",
                "date_of_birth": "1950-05-17",
                "password": "long enough pw",
                "is_operator": MARKER,
            },
        )
    for response, field in ((deposit, "person_id"), (person, "is_operator")):
        body = assert_problem(response, 422, "validation_failed")
        assert {"loc": ["body", field], "type": "extra_forbidden"}.items() <= (
            body["errors"][0].items()
        )


@pytest.mark.parametrize("bad_date", ["2025-02-30", "2025-13-01", "01/06/2025", "", "tomorrow"])
def test_invalid_dates_are_refused(world: World, patient: Patient, bad_date: str) -> None:
    pid, me, ha = patient
    with nothing_stored(world):
        deposit = world.http.post(
            f"/v1/patients/{pid}/records", headers=ha, json=deposit_body(clinical_date=bad_date)
        )
        person = world.http.post(
            "/v1/persons",
            headers=world.operator,
            json={"name": "Chan", "date_of_birth": bad_date, "password": "long enough pw"},
        )
        listed = world.http.get("/v1/me/records", headers=me, params={"since": bad_date})
    for response in (deposit, person, listed):
        body = assert_problem(response, 422, "validation_failed")
        assert body["errors"][0]["loc"][-1] in {"clinical_date", "date_of_birth", "since"}


def test_an_invalid_category_is_refused(world: World, patient: Patient) -> None:
    pid, me, ha = patient
    admin = world.admin("ha")
    with nothing_stored(world):
        deposit = world.http.post(
            f"/v1/patients/{pid}/records", headers=ha, json=deposit_body(category=MARKER)
        )
        listed = world.http.get("/v1/me/records", headers=me, params={"category": MARKER})
        profession = world.http.post(
            "/v1/institutions/ha/professionals",
            headers=admin,
            json={"name": "Dr X", "profession": MARKER},
        )
    for response in (deposit, listed, profession):
        assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    "changes",
    [
        {"title": ""},
        {"title": 5},
        {"content": None},
        {"content_type": "not a media type"},
        {"category": ["lab_report"]},
        {"clinical_date": 20250601.5},
    ],
    ids=[
        "empty-title",
        "number-title",
        "null-content",
        "bad-content-type",
        "list-category",
        "float-date",
    ],
)
def test_wrong_types_and_bounds_are_refused(
    world: World, patient: Patient, changes: dict[str, Any]
) -> None:
    pid, _, ha = patient
    with nothing_stored(world):
        response = world.http.post(
            f"/v1/patients/{pid}/records", headers=ha, json=deposit_body(**changes)
        )
    assert_problem(response, 422, "validation_failed")


# --- request targets -------------------------------------------------------------------


def test_a_huge_number_of_query_parameters_is_refused(world: World, patient: Patient) -> None:
    _, me, _ = patient
    response = world.http.get("/v1/me/records", headers=me, params=[("a", "1")] * 500)
    assert_problem(response, 400, "too_many_query_parameters")


def test_a_too_long_query_string_is_414(world: World, patient: Patient) -> None:
    _, me, _ = patient
    response = world.http.get("/v1/me/records", headers=me, params={"cursor": "c" * 6000})
    assert_problem(response, 414, "uri_too_long")


def test_a_too_long_path_parameter_is_414(world: World, patient: Patient) -> None:
    _, _, ha = patient
    with nothing_stored(world):
        read = world.http.get(f"/v1/me/records/{'r' * 3000}", headers=ha)
        deposit = world.http.post(
            f"/v1/patients/{'p' * 3000}/records", headers=ha, json=deposit_body()
        )
    assert_problem(read, 414, "uri_too_long")
    assert_problem(deposit, 414, "uri_too_long")


@pytest.mark.parametrize("length", [41, 81, 1000])
def test_an_overlong_identifier_is_the_plain_404(
    world: World, patient: Patient, length: int
) -> None:
    """Longer than any id the vault stores (and than the audit log's columns)."""
    pid, me, ha = patient
    with nothing_stored(world, decisions_audited=True):
        for headers, path in (
            (me, f"/v1/me/records/{'r' * length}"),
            (me, f"/v1/me/records/{'r' * length}/content"),
            (ha, f"/v1/patients/{'p' * length}/records"),
            (ha, f"/v1/patients/{pid}/records/{'r' * length}"),
        ):
            assert_problem(world.http.get(path, headers=headers), 404, "not_found")
    assert_problem(world.http.get(f"/v1/institutions/{'i' * length}"), 404, "not_found")


def test_an_overlong_on_behalf_of_fails_validation(world: World, patient: Patient) -> None:
    _, me, _ = patient
    response = world.http.get("/v1/me/records", headers=me | {"On-Behalf-Of": "o" * 41})
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize("cursor", ["not-a-cursor", "", "%00", "eyJ4IjoxfQ", "A" * 200])
def test_an_invalid_cursor_is_refused(world: World, patient: Patient, cursor: str) -> None:
    _, me, _ = patient
    response = world.http.get("/v1/me/records", headers=me, params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


def test_an_overlong_cursor_fails_validation(world: World, patient: Patient) -> None:
    _, me, _ = patient
    response = world.http.get("/v1/me/records", headers=me, params={"cursor": "A" * 201})
    assert_problem(response, 422, "validation_failed")


# --- streamed uploads (the radiology rule), on a stand-in app --------------------------

UPLOAD_LIMIT = 10_000
UPLOAD_RULE = BodyRule(
    re.compile(r"/v1/radiology/deposits/[^/]+/[a-z]+/[^/]+"),
    ("application/dicom", "application/octet-stream"),
    UPLOAD_LIMIT,
    streamed=True,
)


@pytest.fixture
def uploads() -> Iterator[tuple[httpx.Client, list[int]]]:
    """A stand-in for the radiology upload route behind :class:`BodyLimits`; yields a
    client and the sizes of the files the route stored."""
    kept: list[int] = []
    app = FastAPI()
    errors.install(app)
    app.add_middleware(BodyLimits, rules=[UPLOAD_RULE])

    @app.put("/v1/radiology/deposits/{did}/files/{name}")
    async def upload(request: Request, did: str, name: str) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        kept.append(size)
        return {"size": size}

    @app.put("/v1/radiology/deposits/{did}/swallowing/{name}")
    async def swallowing(request: Request, did: str, name: str) -> dict[str, str]:
        try:
            await request.body()
        except Exception:
            return {"status": "the handler ignored the limit"}
        return {"status": "read"}

    with serving(app) as base_url, client(base_url) as http:
        yield http, kept


def _stream(total: int) -> Iterator[bytes]:
    for _ in range(total // 1000):
        yield b"\x00" * 1000


def test_a_streamed_upload_within_its_limit_passes(
    uploads: tuple[httpx.Client, list[int]],
) -> None:
    http, kept = uploads
    response = http.put(
        "/v1/radiology/deposits/d1/files/ct.dcm",
        content=_stream(9000),
        headers={"Content-Type": "application/dicom"},
    )
    assert response.status_code == 200 and kept == [9000]


def test_a_streamed_upload_over_its_limit_is_413(
    uploads: tuple[httpx.Client, list[int]],
) -> None:
    http, kept = uploads
    response = http.put(
        "/v1/radiology/deposits/d1/files/ct.dcm",
        content=_stream(50_000),
        headers={"Content-Type": "application/dicom"},
    )
    assert_problem(response, 413, "payload_too_large")
    assert kept == []


def test_a_declared_oversized_upload_is_413_at_once(
    uploads: tuple[httpx.Client, list[int]],
) -> None:
    http, kept = uploads
    response = http.put(
        "/v1/radiology/deposits/d1/files/ct.dcm",
        content=b"\x00" * 20_000,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_problem(response, 413, "payload_too_large")
    assert kept == []


def test_an_upload_of_another_media_type_is_415(
    uploads: tuple[httpx.Client, list[int]],
) -> None:
    http, kept = uploads
    response = http.put("/v1/radiology/deposits/d1/files/ct.dcm", json={"x": 1})
    assert_problem(response, 415, "unsupported_media_type")
    assert kept == []


def test_the_413_stands_even_if_the_handler_swallows_the_error(
    uploads: tuple[httpx.Client, list[int]],
) -> None:
    http, _ = uploads
    response = http.put(
        "/v1/radiology/deposits/d1/swallowing/ct.dcm",
        content=_stream(50_000),
        headers={"Content-Type": "application/dicom"},
    )
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("path", "streamed"),
    [
        ("/v1/radiology/deposits/d1/files/ct.dcm", True),
        ("/v1/radiology/deposits/d1/uploads", True),
        ("/v1/radiology/deposits/d1/uploads/u1", True),
        ("/dicomweb/studies", True),
        ("/dicomweb/studies/1.2.840.1", True),
        ("/v1/radiology/deposits", False),
        ("/v1/radiology/deposits/d1/complete", False),
        ("/v1/radiology/deposits/d1/files/ct.dcm/extra", False),
        ("/v1/me/folder", False),
    ],
)
def test_the_default_table_streams_only_radiology_uploads(path: str, streamed: bool) -> None:
    limits = BodyLimits(FastAPI())
    assert limits.rule_for(path).streamed is streamed
