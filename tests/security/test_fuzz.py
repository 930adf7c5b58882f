"""Fuzzing the whole API from its own ``/openapi.json`` with schemathesis, once per kind of
caller (issue 8, item 1).

Each kind of caller gets a fresh server (uvicorn on a free port, a database of its own,
SQLite or PostgreSQL per ``--db``) and the state it needs to get past "not found": a person
with records, a caregiver they appointed, an HA doctor, a Mainland doctor with an open
viewing session, a radiology depositor with an open deposit, the operator; and nobody (no
token: whatever schemathesis makes of the ``Authorization`` header). The document is
fetched from the running server, and every operation in it is called with that caller's
token. Path parameters are now generated, now one of the caller's real ids: the viewing
session's id in ``/v1/cross-border/sessions/{sid}/...``, the person's id in
``/v1/patients/{pid}/...``, their records', consents' and authorisations' ids, ...

The operations a caller is meant to use (by OpenAPI tag: ``citizen`` for the citizen,
``hk-professional`` and ``dicomweb`` for the HA doctor, ...) go through schemathesis'
examples, coverage (boundary and malformed values, and TRACE as an unexpected method) and
fuzzing phases; every other operation through the examples and a short fuzzing phase (the
answer is the same refusal whatever the input). The caregiver, whose operations are the
citizen's, skips the coverage phase the citizen already ran. No stateful phase: the real
ids above give the fuzzer the objects that links would.

Every response must:

- not be a server error (no 5xx);
- conform to ``/openapi.json``: a documented status code, its content type, its headers and
  its body schema;
- if it is an error (4xx), be ``application/problem+json`` with a string ``code`` and the
  response's ``status``.

The server's simulated clock is put back before every request, so tokens stay valid however
long the run is and the operator's ``POST /v1/admin/clock`` cannot strand later requests.

``make test`` runs a bounded example count with a fixed seed (reproducible in CI; about
30 s per database on an idle two-core machine, 45 s under load, the server's audited
decisions being most of it). Both are environment variables:

- ``CROSSVAULT_FUZZ_EXAMPLES`` (default 4): Hypothesis ``max_examples`` of the fuzzing
  phase per operation, for the caller's own operations (every other operation gets a
  quarter of it, at least 1);
- ``CROSSVAULT_FUZZ_SEED`` (default 20260302): an integer, or ``random`` for a fresh seed
  (a failure's report ends with the seed, to reproduce it).

The longer, randomised run (about ten minutes per database)::

    CROSSVAULT_FUZZ_EXAMPLES=60 CROSSVAULT_FUZZ_SEED=random \\
        .venv/bin/pytest tests/security/test_fuzz.py --db=sqlite
    CROSSVAULT_FUZZ_EXAMPLES=60 CROSSVAULT_FUZZ_SEED=random \\
        .venv/bin/pytest tests/security/test_fuzz.py --db=postgresql

Found so far (fixed, with regression tests at the end of this module): a huge
``advance_seconds`` in ``POST /v1/admin/clock`` answered 500 (``OverflowError``); on
PostgreSQL, a NUL character in any identifier answered 500 (``DataError``).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import World
from tests.api.cross_border_support import authorise, staff
from vault.core.clock import SimulatedClock

EXAMPLES = int(os.environ.get("CROSSVAULT_FUZZ_EXAMPLES", "4"))
OTHER_EXAMPLES = max(1, EXAMPLES // 4)
_SEED = os.environ.get("CROSSVAULT_FUZZ_SEED", "20260302")
SEED = secrets.randbits(64) if _SEED == "random" else int(_SEED)

PROBLEM_JSON = "application/problem+json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The OpenAPI tags of the operations each kind of caller is meant to use.
OWN_TAGS = {
    "anonymous": ["auth", "operations"],
    "citizen": ["citizen"],
    "caregiver": ["citizen"],
    "hk_professional": ["hk-professional", "dicomweb"],
    "mainland_professional": ["mainland-professional"],
    "radiology_depositor": ["radiology-depositor", "dicomweb"],
    "operator": ["operator"],
}

# The radiology files' media types go on the wire as raw bytes, like octet-stream.
for _media_type in ("application/dicom", "application/pdf"):
    schemathesis.serializer.alias(_media_type, "application/octet-stream")

schema = schemathesis.pytest.from_fixture("api_schema")


@dataclass
class Caller:
    """Who calls: the headers sent with every request, and the real ids (by path
    parameter name) that may replace generated ones."""

    role: str
    headers: dict[str, str] = field(default_factory=dict)
    known: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Fuzzed:
    world: World
    base_url: str
    caller: Caller
    instant: datetime  # the server's clock is put back here before every request
    session: requests.Session


# --- the server and its state ----------------------------------------------------------------


@pytest.fixture
def fuzz_world(world: World) -> Iterator[tuple[World, str]]:
    """The API tests' ``world`` and its base URL, with the access log quiet (thousands of
    requests)."""
    access_log = logging.getLogger("crossvault.access")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    try:
        yield world, str(world.http.base_url).rstrip("/")
    finally:
        access_log.setLevel(level)


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _citizen(world: World) -> tuple[str, dict[str, str], Caller]:
    """A person with records, a consent and authorisations: (id, headers, caller)."""
    pid, me = world.person()
    ha = world.professional("ha")
    records = [
        world.deposit(pid, ha, category="lab_report"),
        world.deposit(pid, ha, category="medication", clinical_date="2024-01-15"),
    ]
    folder = world.http.post(
        "/v1/me/folder",
        headers=me,
        json={
            "category": "document",
            "clinical_date": "2025-01-01",
            "title": "Shenzhen discharge note",
            "content": "filed by the person",
            "content_type": "text/plain",
        },
    )
    records.append(_created(folder)["id"])
    granted = world.grant_everything(me)
    known = {
        "record_id": records,
        "consent_id": [granted["consent"]],
        "authorisation_id": [granted["cross_border"], granted["radiology"]],
    }
    return pid, me, Caller("citizen", me, known)


def _caller(world: World, role: str) -> Caller:
    if role == "anonymous":
        return Caller(role)
    if role == "operator":
        return Caller(role, world.operator, {"iid": ["ha", "hku_sz"]})
    pid, me, citizen = _citizen(world)
    if role == "citizen":
        return citizen
    if role == "caregiver":
        caregiver_id, caregiver = world.person(name="Chan Siu Ming", dob="1980-02-02")
        appointed = world.http.post(
            "/v1/me/caregivers", headers=me, json={"caregiver_id": caregiver_id}
        )
        _created(appointed)  # its id stays unknown: revoking it would end the caregiver's run
        return Caller(role, caregiver | {"On-Behalf-Of": pid}, citizen.known)
    if role == "hk_professional":
        known = {"pid": [pid], "record_id": citizen.known["record_id"]}
        return Caller(role, world.professional("ha"), known)
    if role == "mainland_professional":
        doctor = staff(world, "hku_sz")
        session = _created(doctor.open(authorise(world, pid, "hku_sz")))
        known = {"sid": [session["session_id"]], "record_id": citizen.known["record_id"]}
        return Caller(role, doctor.headers(), known)
    assert role == "radiology_depositor"
    radiographer = world.professional("hku_sz", profession="radiographer")
    issued = world.http.post(
        "/v1/me/radiology-authorisations", headers=me, json={"institution_id": "hku_sz"}
    )
    deposit = world.http.post(
        "/v1/radiology/deposits",
        headers=radiographer,
        json={"authorisation_code": _created(issued)["authorisation_code"]},
    )
    return Caller(role, radiographer, {"deposit_id": [_created(deposit)["deposit_id"]]})


@pytest.fixture(params=list(OWN_TAGS))
def fuzzed(request: pytest.FixtureRequest, fuzz_world: tuple[World, str]) -> Iterator[Fuzzed]:
    world, base_url = fuzz_world
    caller = _caller(world, request.param)
    with requests.Session() as session:
        yield Fuzzed(world, base_url, caller, world.vault.clock.now(), session)


def _config(role: str) -> schemathesis.Config:
    """The caller's own operations get every phase; the others a short fuzzing phase."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "phases": {
                "coverage": {"enabled": role != "caregiver", "unexpected-methods": ["trace"]}
            },
            "operations": [
                {
                    "exclude-tag": OWN_TAGS[role],
                    "phases": {"coverage": {"enabled": False}},
                    "generation": {"max-examples": OTHER_EXAMPLES},
                }
            ],
        }
    )


@pytest.fixture
def api_schema(request: pytest.FixtureRequest, fuzzed: Fuzzed) -> schemathesis.BaseSchema:
    # schemathesis 4's from_fixture() labels each operation's subtest by rewriting the
    # item's ``_nodeid``, an attribute pytest 9 no longer has: give it one to rewrite.
    node: Any = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid
    loaded = schemathesis.openapi.from_url(
        f"{fuzzed.base_url}/openapi.json", config=_config(fuzzed.caller.role)
    )
    loaded.config.update(base_url=fuzzed.base_url)
    known = fuzzed.caller.known

    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        """Now the generated value, now one of the caller's real ids."""
        if not isinstance(path_parameters, dict) or not known.keys() & path_parameters.keys():
            return st.just(path_parameters)
        return st.fixed_dictionaries(
            {
                name: st.sampled_from([value, *known.get(name, [])])
                for name, value in path_parameters.items()
            }
        )

    loaded.hooks.register_hook_with_name(flatmap_path_parameters, "flatmap_path_parameters")
    return loaded


# --- the test ----------------------------------------------------------------------------------


def _assert_problem(response: schemathesis.Response, method: str) -> None:
    """A 4xx is problem+json with a ``code`` (a HEAD answer has no body to check)."""
    if response.status_code < 400 or method.upper() == "HEAD":
        return
    values = [v for k, vs in response.headers.items() if k.lower() == "content-type" for v in vs]
    content_type = values[0] if values else ""
    assert content_type == PROBLEM_JSON, (response.status_code, content_type)
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("code"), str), body
    assert body["status"] == response.status_code, body


@schema.parametrize()
def test_every_answer_conforms_to_the_schema(case: schemathesis.Case[Any], fuzzed: Fuzzed) -> None:
    caller = fuzzed.caller
    # The caller's token (and the caregiver's On-Behalf-Of) replace generated values (a
    # case-insensitive mapping); nobody's requests keep whatever was generated.
    case.headers.update(caller.headers)
    clock = fuzzed.world.vault.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(fuzzed.instant)
    try:
        response = case.call_and_validate(session=fuzzed.session, checks=CHECKS)
        _assert_problem(response, case.method)
    except Exception as failure:
        failure.add_note(f"as {caller.role}; reproduce with CROSSVAULT_FUZZ_SEED={SEED}")
        raise


# --- regressions: what the fuzzer found ------------------------------------------------------


CLOCK_REFUSALS = [
    '{"advance_seconds": 6.319909435252402e307}',  # found by the fuzzer: a 500
    '{"advance_seconds": 1e12}',
    '{"advance_seconds": Infinity}',
    '{"advance_seconds": NaN}',
    '{"set_to": "9999-12-31T23:59:59+00:00"}',
    '{"set_to": "0001-01-01T00:00:00+14:00"}',
    '{"set_to": "2099-12-31T00:00:00+00:00", "advance_seconds": 172800}',
]


def test_the_clock_refuses_instants_it_cannot_represent(fuzz_world: tuple[World, str]) -> None:
    """``POST /v1/admin/clock`` once answered 500 (OverflowError) to a huge
    ``advance_seconds``; far-off instants would also have broken every later request."""
    world, _ = fuzz_world
    headers = world.operator | {"Content-Type": "application/json"}
    before = world.vault.clock.now()
    for body in CLOCK_REFUSALS:
        refused = world.http.post("/v1/admin/clock", headers=headers, content=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.json()["code"] in ("clock_out_of_range", "validation_failed")
    assert abs(world.vault.clock.now() - before).total_seconds() < 60  # untouched
    assert world.http.get("/v1/institutions", headers=world.operator).status_code == 200
    moved = world.http.post("/v1/admin/clock", headers=headers, content='{"advance_seconds": 60}')
    assert moved.status_code == 200, moved.text


def test_a_nul_character_is_refused_at_the_edge(fuzz_world: tuple[World, str]) -> None:
    """On PostgreSQL a NUL in any identifier (path, query, JSON or form field) reached the
    database and answered 500 (``DataError``); found by the fuzzer in a caregiver id."""
    world, _ = fuzz_world
    pid, me = world.person()
    ha = world.professional("ha")
    requests_: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("GET", "/v1/me/records/%00", me, {}),
        ("GET", "/v1/me/caregivers/a%00b", me, {}),
        ("GET", "/v1/me/records?cursor=%00", me, {}),
        ("POST", "/v1/me/caregivers", me, {"json": {"caregiver_id": "a\x00b"}}),
        ("POST", "/v1/me/sharing-consents", me, {"json": {"institution_id": "hksh\x00"}}),
        ("GET", "/v1/patients/%00/records", ha, {}),
        ("GET", f"/v1/patients/{pid}/records/%00/content", ha, {}),
        ("GET", "/v1/cross-border/sessions/%00/records", ha, {}),
        ("GET", "/v1/radiology/deposits/%00", ha, {}),
        ("GET", "/dicomweb/studies/%00", me, {}),
        ("POST", "/v1/institutions/%00/professionals", world.operator, {"json": {}}),
        ("POST", "/v1/auth/token", {}, {"data": {"grant_type": "password", "username": "\x00"}}),
    ]
    for method, path, headers, body in requests_:
        refused = world.http.request(method, path, headers=headers, **body)
        assert refused.status_code == 400, (method, path, refused.text)
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.json()["code"] == "nul_character"
