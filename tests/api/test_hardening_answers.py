"""Issue 15 ("Hardening") over real HTTP: login throttling without an account oracle,
out-of-range cursors, the headers of every answer, and the clearer answers."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api.conftest import PASSWORD, World
from tests.api.cross_border_support import staff
from vault.access import paging
from vault.access.paging import InvalidCursor

WRONG = "not the password at all"


def _login(world: World, username: str, password: str) -> httpx.Response:
    return world.http.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )


def _answers(world: World, username: str, password: str) -> list[tuple[int, str, bool]]:
    """Five failed logins then a sixth with ``password``: (status, code, Retry-After?)."""
    seen = []
    for _ in range(5):
        r = _login(world, username, WRONG)
        seen.append((r.status_code, r.json().get("code", ""), "retry-after" in r.headers))
    r = _login(world, username, password)
    seen.append((r.status_code, r.json().get("code", ""), "retry-after" in r.headers))
    return seen


# 1. Login throttling


def test_the_sixth_login_after_five_failures_is_throttled(world: World) -> None:
    pid, _ = world.person()
    assert _login(world, pid, PASSWORD).status_code == 200  # the right password works
    seen = _answers(world, pid, PASSWORD)
    assert all(status == 400 for status, _, _ in seen[:4]), seen
    # the failure that locks already answers 429 (stricter than the brief; still a refusal)
    assert seen[4][0] in (400, 429), seen
    locked = _login(world, pid, PASSWORD)
    assert seen[5][0] == 429 and seen[5][1] == "too_many_attempts", seen
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) > 0


def test_an_unknown_username_answers_like_a_known_one(world: World) -> None:
    pid, _ = world.person()
    known = _answers(world, pid, PASSWORD)
    unknown = _answers(world, "p-nobody-like-this-one", PASSWORD)
    assert known == unknown
    assert known[5] == (429, "too_many_attempts", True)


# 2. Cursors out of range


OUT_OF_RANGE_SEQ = [paging.encode(10**30), paging.encode(2**63), paging.encode(-1)]
OUT_OF_RANGE_INSTANT = [
    paging.encode("9999-12-31T23:59:59-14:00", "n1"),
    paging.encode("0001-01-01T00:00:00+14:00", "n1"),
    paging.encode("2025-01-01T00:00:00", "n1"),  # naive
    paging.encode("2025-01-01T00:00:00+00:00", "n" * 100),
]


@pytest.mark.parametrize("cursor", OUT_OF_RANGE_SEQ + OUT_OF_RANGE_INSTANT[:1])
def test_an_out_of_range_access_log_cursor_is_refused(world: World, cursor: str) -> None:
    _, me = world.person()
    r = world.http.get("/v1/me/access-log", headers=me, params={"cursor": cursor})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", r.text


@pytest.mark.parametrize("cursor", OUT_OF_RANGE_INSTANT + OUT_OF_RANGE_SEQ[:1])
def test_an_out_of_range_notifications_cursor_is_refused(world: World, cursor: str) -> None:
    _, me = world.person()
    r = world.http.get("/v1/me/notifications", headers=me, params={"cursor": cursor})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", r.text


_DECODERS = (paging.seq, paging.instant_and_id, paging.date_and_id)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _as_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@given(st.one_of(st.text(max_size=500), _JSON.map(_as_cursor)))
def test_any_text_decodes_or_raises_the_cursor_error(cursor: str) -> None:
    for decoder in _DECODERS:
        with contextlib.suppress(InvalidCursor):
            decoder(cursor)


# 3. Answer headers


def _assert_hardened(r: httpx.Response) -> None:
    assert r.headers.get("x-content-type-options") == "nosniff", (r.request.url, r.headers)
    assert "server" not in r.headers, (r.request.url, r.headers)


def test_personal_answers_are_not_stored(world: World) -> None:
    pid, me = world.person()
    world.deposit(pid, world.professional("ha"))
    for path in ("/v1/me", "/v1/me/access-log", "/v1/me/records"):
        r = world.http.get(path, headers=me)
        assert r.status_code == 200, (path, r.text)
        assert r.headers.get("cache-control") == "no-store", (path, r.headers)
        _assert_hardened(r)


def test_every_answer_says_nosniff_and_names_no_server(world: World) -> None:
    _, me = world.person()
    answers = [
        world.http.get("/v1/nothing-here", headers=me),
        world.http.get("/v1/me"),
        world.http.get("/v1/me", headers={"Authorization": "Bearer not-a-token"}),
        _login(world, "p-nobody", WRONG),
    ]
    assert [r.status_code for r in answers] == [404, 401, 401, 400]
    for r in answers:
        _assert_hardened(r)


def test_unsafe_record_content_is_an_attachment_under_a_sandbox(world: World) -> None:
    pid, me = world.person()
    r = world.http.post(
        f"/v1/patients/{pid}/records",
        headers=world.professional("ha"),
        json={
            "category": "lab_report",
            "clinical_date": "2025-06-01",
            "title": "html",
            "content": "<script>alert(1)</script>",
            "content_type": "text/html",
        },
    )
    assert r.status_code == 201, r.text
    content = world.http.get(f"/v1/me/records/{r.json()['id']}/content", headers=me)
    assert content.status_code == 200, content.text
    assert content.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in content.headers["content-security-policy"]
    _assert_hardened(content)


# 4. Clearer answers


def test_an_unknown_path_with_a_text_body_is_not_found(world: World) -> None:
    r = world.http.put("/v1/nothing", content=b"hi", headers={"Content-Type": "text/plain"})
    assert r.status_code == 404 and r.json()["code"] == "not_found", r.text


def test_client_credentials_without_professional_id_name_it(world: World) -> None:
    who = staff(world, "ha")
    r = world.http.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": who.client_id,
            "client_secret": who.client_secret,
        },
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_request", r.text
    assert "professional_id" in str(r.json().get("detail", "")), r.text


def test_joined_must_be_a_boolean(world: World) -> None:
    r = world.http.post(
        "/v1/persons",
        json={"name": "Chan", "date_of_birth": "1950-05-17", "password": PASSWORD, "joined": 0},
    )
    assert r.status_code == 422, r.text
