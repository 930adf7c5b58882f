"""The FHIR R4 facade over real HTTP, every answer validated with ``fhir.resources``
(R4B): what each reader sees equals what the REST API shows them; hidden is missing; a
Mainland professional reads exactly the lookback through their viewing session, and a
revocation ends it on the next request; refused parameters are never ignored."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.fhir import consent_writes
from api.fhir.resources import record_resource_id, split_record_id
from tests.api.conftest import World, module_world
from tests.api.cross_border_support import SESSIONS, Staff, authorise, revoke, staff
from tests.api.fhir_support import FHIR, code_of, valid
from tests.support.databases import DatabaseKind

MISSING = "0" * 32


@dataclass
class Estate:
    world: World
    pid: str
    me: dict[str, str]
    ha: Staff
    records: list[str]  # newest clinical date first
    other_pid: str
    other_record: str


DEPOSITS = [
    ("lab_report", "2019-05-01"),
    ("medication", "2022-01-05"),
    ("lab_report", "2023-06-19"),
    ("allergy", "2024-08-03"),
    ("lab_report", "2025-10-02"),
]


@pytest.fixture(scope="module")
def estate(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Estate]:
    base: Path = tmp_path_factory.mktemp("fhir-read")
    with module_world(request, db_kind, base, "fhir_read") as (world, _, _):
        pid, me = world.person("Chan Tai Man", "1951-03-14")
        ha = staff(world, "ha")
        made = [
            world.deposit(pid, ha.headers(), category=c, clinical_date=d, content=f"{c} {d}")
            for c, d in DEPOSITS
        ]
        other_pid, _ = world.person("Lee Mei Ling", "1986-09-02")
        other = world.deposit(other_pid, ha.headers())
        yield Estate(world, pid, me, ha, made[::-1], other_pid, other)


def _get(estate: Estate, path: str, headers: dict[str, str], **params: Any) -> Any:
    return estate.world.http.get(f"{FHIR}/{path}", headers=headers, params=params)


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return valid(response.json())


def _all_pages(estate: Estate, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    bundle = _ok(_get(estate, "DocumentReference", headers, **params))
    found = [e["resource"] for e in bundle["entry"]]
    while nexts := [link["url"] for link in bundle["link"] if link["relation"] == "next"]:
        bundle = _ok(estate.world.http.get(nexts[0], headers=headers))
        found += [e["resource"] for e in bundle["entry"]]
    return found


def _record_ids(resources: list[dict[str, Any]]) -> list[str]:
    ids = [split_record_id(r["id"]) for r in resources]
    return [found[1] for found in ids if found is not None]


def _rest_ids(estate: Estate, path: str, headers: dict[str, str], **params: Any) -> list[str]:
    r = estate.world.http.get(path, headers=headers, params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


def test_the_capability_statement_lists_what_is_implemented(estate: Estate) -> None:
    statement = _ok(estate.world.http.get(f"{FHIR}/metadata"))
    assert statement["fhirVersion"] == "4.0.1"
    kinds = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(kinds) == {
        "Patient",
        "DocumentReference",
        "Binary",
        "ImagingStudy",
        "Provenance",
        "Consent",
        "AuditEvent",
    }
    params = {p["name"] for p in kinds["DocumentReference"]["searchParam"]}
    assert params == {"patient", "subject", "category", "date", "_lastUpdated"}


def test_the_person_reads_themselves_and_their_records_as_rest_shows_them(estate: Estate) -> None:
    me, pid = estate.me, estate.pid
    patient = _ok(_get(estate, f"Patient/{pid}", me))
    assert patient["name"][0]["text"] == "Chan Tai Man" and patient["birthDate"] == "1951-03-14"
    searched = _ok(_get(estate, "Patient", me))
    assert [e["resource"]["id"] for e in searched["entry"]] == [pid]
    paged = _all_pages(estate, me, _count=2)
    assert _record_ids(paged) == _rest_ids(estate, "/v1/me/records", me) == estate.records
    labs = _all_pages(estate, me, category="lab_report", date=["ge2020-01-01", "le2025-12-31"])
    rest = _rest_ids(
        estate, "/v1/me/records", me, category="lab_report", since="2020-01-01", until="2025-12-31"
    )
    assert _record_ids(labs) == rest and len(rest) == 2
    one = _ok(_get(estate, f"DocumentReference/{paged[0]['id']}", me))
    assert one == paged[0] and one["subject"]["reference"] == f"Patient/{pid}"
    raw = _get(estate, one["content"][0]["attachment"]["url"], me)
    rest_content = estate.world.http.get(f"/v1/me/records/{estate.records[0]}/content", headers=me)
    assert (
        raw.status_code == 200 and raw.content == rest_content.content == b"lab_report 2025-10-02"
    )
    as_json = _ok(_get(estate, f"Binary/{one['id']}", {**me, "Accept": "application/fhir+json"}))
    assert base64.b64decode(as_json["data"]) == raw.content


def test_consents_and_the_access_log_are_the_persons(estate: Estate) -> None:
    world = estate.world
    pid, me = world.person("Ho Siu Ming", "1960-01-01")
    ids = world.grant_everything(me)
    consents = _ok(_get(estate, "Consent", me))
    found = {e["resource"]["id"] for e in consents["entry"]}
    assert found == {
        f"sharing-{ids['consent']}",
        f"cross-border-{ids['cross_border']}",
        f"radiology-{ids['radiology']}",
    }
    cross = _ok(_get(estate, f"Consent/cross-border-{ids['cross_border']}", me))
    assert cross["provision"]["dataPeriod"]["start"] == "2023-03-02"  # three years, HK date
    assert _get(estate, f"Consent/sharing-{MISSING}", me).status_code == 404
    log = _ok(_get(estate, "AuditEvent", me, _count=3))
    assert len(log["entry"]) == 3 and any(link["relation"] == "next" for link in log["link"])
    rest = world.http.get("/v1/me/access-log", headers=me, params={"limit": 3}).json()["items"]
    shown = [e["resource"]["id"] for e in log["entry"]]
    # each read is in the log it shows: REST, asked next, shows its own, then FHIR's
    assert rest[1]["action"] == "read_access_log"
    assert shown[:2] == [f"{pid}.{e['seq']}" for e in rest[1:]]


def test_hidden_is_missing(estate: Estate) -> None:
    hksh = staff(estate.world, "hksh").headers()  # no consent from anyone
    pid, rid = estate.pid, estate.records[0]
    for exists, missing in (
        (f"DocumentReference/{pid}.{rid}", f"DocumentReference/{pid}.{MISSING}"),
        (f"Binary/{pid}.{rid}", f"Binary/{MISSING}.{rid}"),
        (f"Patient/{pid}", f"Patient/{MISSING}"),
    ):
        hidden, absent = _get(estate, exists, hksh), _get(estate, missing, hksh)
        assert hidden.status_code == absent.status_code == 404
        assert hidden.content == absent.content and code_of(hidden) == "not_found"
    nothing = _ok(_get(estate, "DocumentReference", hksh, patient=f"Patient/{pid}"))
    assert nothing["entry"] == [] and "total" not in nothing
    # another person's record under the person's own name is missing too
    theirs = _get(estate, f"DocumentReference/{pid}.{estate.other_record}", estate.me)
    assert theirs.status_code == 404
    ha = estate.ha.headers()
    seen = _all_pages(estate, ha, patient=pid)
    assert _record_ids(seen) == _rest_ids(estate, f"/v1/patients/{pid}/records", ha)
    assert _ok(_get(estate, f"Patient/{pid}", ha)) == {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "https://crossvault.example/fhir/sid/person", "value": pid}],
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"_total": "accurate"}, "total_not_supported"),
        ({"_summary": "count"}, "summary_not_supported"),
        ({"_include": "DocumentReference:subject"}, "include_not_supported"),
        ({"_revinclude": "Provenance:target"}, "include_not_supported"),
        ({"subject.name": "Chan"}, "chained_search_not_supported"),
        ({"_has:AuditEvent:entity:agent": "x"}, "has_not_supported"),
        ({"category:not": "lab_report"}, "modifier_not_supported"),
        ({"author": "ha"}, "unsupported_parameter"),
        ({"_lastUpdated": "gt2020-01-01"}, "invalid_date_prefix"),
        ({"_lastUpdated": "ge2020-01-01T10:00:00"}, "invalid_date"),
        ({"date": "gt2020-01-01"}, "invalid_date_prefix"),
        ({"date": "ge2020-13-01"}, "invalid_date"),
        ({"category": "nonsense"}, "unknown_category"),
        ({"_count": "0"}, "invalid_count"),
        ({"_cursor": "forged"}, "invalid_cursor"),
    ],
)
def test_refused_parameters_get_an_operation_outcome(
    estate: Estate, params: dict[str, str], code: str
) -> None:
    r = _get(estate, "DocumentReference", estate.me, **params)
    assert r.status_code == 400 and code_of(r) == code


def test_unimplemented_interactions_and_types(estate: Estate) -> None:
    http = estate.world.http
    for method, path in (("GET", "Observation"), ("POST", "Patient"), ("PUT", "Consent/x")):
        r = http.request(method, f"{FHIR}/{path}", headers=estate.me, json={"resourceType": "X"})
        assert r.status_code == 400 and code_of(r) == "unsupported_interaction"
    unauthenticated = http.get(f"{FHIR}/Patient/{estate.pid}")
    assert unauthenticated.status_code == 401 and code_of(unauthenticated) == "invalid_token"


def test_a_mainland_session_sees_the_lookback_and_revocation_ends_it(estate: Estate) -> None:
    world, pid = estate.world, estate.pid
    codes = authorise(world, pid, "hku_sz")
    doctor = staff(world, "hku_sz")
    opened = doctor.open(codes)
    assert opened.status_code == 201, opened.text
    sid = opened.json()["session_id"]
    through = {**doctor.headers(), "X-Viewing-Session": sid}
    rest = _rest_ids(estate, f"{SESSIONS}/{sid}/records", doctor.headers())
    seen = _all_pages(estate, through, _count=1)
    assert _record_ids(seen) == rest == estate.records[:3]  # 2023-06-19 on: three years
    assert _record_ids(_all_pages(estate, through, patient=pid)) == rest
    assert _all_pages(estate, doctor.headers(), patient=pid) == []  # no session: nothing
    other = _all_pages(estate, through, patient=estate.other_pid)
    assert other == []
    old = f"DocumentReference/{pid}.{estate.records[4]}"
    assert _get(estate, old, through).status_code == 404  # outside the lookback
    recent = f"DocumentReference/{pid}.{estate.records[0]}"
    assert _ok(_get(estate, recent, through))["id"] == record_resource_id(pid, estate.records[0])
    revoke(world, pid, codes)
    assert _get(estate, recent, through).status_code == 404
    assert _all_pages(estate, through) == []


def _consent_body(pid: str, institution: str = "hksh", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(consent_writes._EXAMPLE))
    body["patient"] = {"reference": f"Patient/{pid}"}
    body["provision"]["actor"][0]["reference"]["identifier"]["value"] = institution
    body.update(changes)
    return body


def test_the_person_gives_and_revokes_a_sharing_consent_over_fhir(estate: Estate) -> None:
    world = estate.world
    pid, me = world.person("Wong Ka Yan", "1970-07-07")
    record = world.deposit(pid, estate.ha.headers())
    hksh = staff(world, "hksh").headers()
    assert _all_pages(estate, hksh, patient=pid) == []
    made = world.http.post(f"{FHIR}/Consent", headers=me, json=_consent_body(pid))
    assert made.status_code == 201, made.text
    consent = valid(made.json())
    assert made.headers["location"] == f"Consent/{consent['id']}"
    assert consent["status"] == "active" and consent["id"].startswith("sharing-")
    rest = world.http.get("/v1/me/sharing-consents", headers=me).json()["items"]
    assert [f"sharing-{c['id']}" for c in rest] == [consent["id"]]
    assert _record_ids(_all_pages(estate, hksh, patient=pid)) == [record]
    gone = world.http.delete(f"{FHIR}/Consent/{consent['id']}", headers=me)
    assert gone.status_code == 204, gone.text
    assert _all_pages(estate, hksh, patient=pid) == []  # the very next request
    assert _ok(_get(estate, f"Consent/{consent['id']}", me))["status"] == "inactive"


def test_a_bad_consent_body_is_refused_and_nothing_stored(estate: Estate) -> None:
    world = estate.world
    pid, me = world.person("Yip Chi Wai", "1980-08-08")
    term = {"coding": [{"system": consent_writes.TERM_SYSTEM, "code": "forever"}]}
    nested = _consent_body(pid)
    nested["provision"]["except"] = []
    cases = [
        (_consent_body(pid, resourceType="Patient"), 400, "wrong_resource_type"),
        (["not", "an", "object"], 422, "validation_failed"),
        (_consent_body(pid, bogus=1), 422, "validation_failed"),
        (nested, 422, "validation_failed"),
        (_consent_body(pid, policyRule=term), 400, "unknown_term"),
        (_consent_body(pid, "hku_sz"), 422, "not_a_hong_kong_institution"),
        (_consent_body(pid, "nowhere"), 422, "unknown_institution"),
    ]
    for body, status, code in cases:
        r = world.http.post(f"{FHIR}/Consent", headers=me, json=body)
        assert r.status_code == status and code_of(r) == code, (code, r.text)
    assert world.http.get("/v1/me/sharing-consents", headers=me).json()["items"] == []
    doctor = world.http.post(
        f"{FHIR}/Consent", headers=estate.ha.headers(), json=_consent_body(pid)
    )
    assert doctor.status_code == 403 and code_of(doctor) == "wrong_role"
    missing = world.http.delete(f"{FHIR}/Consent/sharing-{MISSING}", headers=me)
    assert missing.status_code == 404 and code_of(missing) == "not_found"


_NAMES = st.sampled_from(
    [
        "patient",
        "subject",
        "category",
        "date",
        "_count",
        "_cursor",
        "_id",
        "_total",
        "_summary",
        "_include",
        "_has:X:y:z",
        "subject.name",
        "date:missing",
        "_sort",
        "_elements",
        "_lastUpdated",
    ]
) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz_:.", min_size=1, max_size=12)
_VALUES = st.sampled_from(
    ["", "lab_report", "ge2024-01-01", "le1999-12-31", "eq2024-02-30", "sa2020-01-01", "0", "9"]
) | st.text(max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(["DocumentReference", "Patient", "Consent", "AuditEvent"]),
    params=st.lists(st.tuples(_NAMES, _VALUES), max_size=4),
)
def test_any_search_answers_a_bundle_or_an_operation_outcome(
    estate: Estate, kind: str, params: list[tuple[str, str]]
) -> None:
    """Whatever the parameters, a search answers a valid searchset without ``total``, or
    a 4xx ``OperationOutcome`` with a stable code — never a 500."""
    query = httpx.QueryParams(tuple(params))
    r = estate.world.http.get(f"{FHIR}/{kind}", headers=estate.me, params=query)
    assert r.status_code in (200, 400, 404, 422), r.text
    if r.status_code == 200:
        assert _ok(r)["resourceType"] == "Bundle"
    else:
        assert code_of(r)


def test_the_request_limits_answer_an_operation_outcome_too(estate: Estate) -> None:
    http = estate.world.http
    many = tuple((f"a{i}", "1") for i in range(70))
    r = http.get(f"{FHIR}/DocumentReference", headers=estate.me, params=many)
    assert r.status_code == 400 and code_of(r)
    plain = {**estate.me, "Content-Type": "text/plain"}
    text = http.post(f"{FHIR}/Consent", headers=plain, content=b"a Consent")
    assert text.status_code == 415 and code_of(text) == "unsupported_media_type"
    assert text.headers["x-content-type-options"] == "nosniff"  # the API's headers are kept
