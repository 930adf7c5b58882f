"""``POST /fhir/r4/Consent/$explain`` over real HTTP: what an actor could see of a person's
records and why, under any loaded policy, asked by the person or the operator only; the
counts equal what the actor really sees once they act; asking is audited; bad questions
get an OperationOutcome and store nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from policies.explain import WHAT_IF_SESSION
from tests.api.conftest import World, module_world
from tests.api.cross_border_support import SESSIONS, authorise, staff
from tests.api.fhir_support import FHIR, code_of, valid
from tests.support.databases import DatabaseKind
from vault.store.tables import AuditEntry

EXPLAIN = f"{FHIR}/Consent/$explain"
DEPOSITS = [  # the clock stands in 2026: three years back is 2023
    ("lab_report", "2019-05-01"),
    ("medication", "2022-01-05"),
    ("lab_report", "2023-06-19"),
    ("allergy", "2024-08-03"),
    ("lab_report", "2025-10-02"),
]


@dataclass
class Estate:
    world: World
    pid: str
    me: dict[str, str]
    stranger: dict[str, str]


@pytest.fixture(scope="module")
def estate(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Estate]:
    base: Path = tmp_path_factory.mktemp("fhir-explain")
    with module_world(request, db_kind, base, "fhir_explain") as (world, _, _):
        pid, me = world.person("Chan Tai Man", "1951-03-14")
        ha = staff(world, "ha")
        for category, day in DEPOSITS:
            world.deposit(pid, ha.headers(), category=category, clinical_date=day)
        _, stranger = world.person("Lee Mei Ling", "1986-09-02")
        yield Estate(world, pid, me, stranger)


def question(pid: str, institution: str, **more: str) -> dict[str, Any]:
    parameter: list[dict[str, Any]] = [
        {"name": "patient", "valueReference": {"reference": f"Patient/{pid}"}},
        {"name": "institution", "valueString": institution},
    ]
    for name, value in more.items():
        kind = "valueCode" if name == "profession" else "valueString"
        parameter.append({"name": name, kind: value})
    return {"resourceType": "Parameters", "parameter": parameter}


def ask(estate: Estate, body: Any, headers: dict[str, str]) -> httpx.Response:
    return estate.world.http.post(
        EXPLAIN, json=body, headers={**headers, "Content-Type": "application/fhir+json"}
    )


def steps(answer: httpx.Response) -> list[dict[str, Any]]:
    """Each step's parts by name (repeated names as lists), after R4B validation."""
    assert answer.status_code == 200, answer.text
    body = valid(answer.json())
    found = []
    for step in (p for p in body["parameter"] if p["name"] == "step"):
        parts: dict[str, Any] = {}
        for part in step["part"]:
            value = next((v for k, v in part.items() if k.startswith("value")), None)
            if part["name"] == "visibleRecords":
                pair = {
                    p["name"]: next(v for k, v in p.items() if k != "name") for p in part["part"]
                }
                parts.setdefault("visibleRecords", {})[pair["category"]] = pair["count"]
            elif part["name"] in ("category", "source"):
                parts.setdefault(part["name"], []).append(value)
            else:
                parts[part["name"]] = value
        found.append(parts)
    return found


def _audited(world: World, action: str = "explain_access") -> int:
    with Session(world.vault.engine) as session:
        query = select(func.count()).select_from(AuditEntry).where(col(AuditEntry.action) == action)
        return int(session.exec(query).one())


def test_the_person_asks_what_a_hong_kong_hospital_could_see(estate: Estate) -> None:
    before = _audited(estate.world)
    implied = steps(ask(estate, question(estate.pid, "ha"), estate.me))
    assert [s["action"] for s in implied] == ["list_records", "request_restricted_access"]
    listing = implied[0]
    assert listing["allowed"] is True  # HA holds implied sharing consent for the eHR
    assert listing["visibleRecords"] == {"allergy": 1, "lab_report": 3, "medication": 1}
    assert listing["source"] == ["ehr"]  # the implied consent covers the eHR only
    none = steps(ask(estate, question(estate.pid, "hksh"), estate.me))
    assert none[0]["allowed"] is False and none[0]["reason"] == "no_sharing_consent"
    assert "visibleRecords" not in none[0]
    assert _audited(estate.world) == before + 2  # asking is decided and audited


def test_a_mainland_institution_sees_the_lookback_of_the_policy_asked_about(
    estate: Estate,
) -> None:
    world, pid = estate.world, estate.pid
    (before,) = steps(ask(estate, question(pid, "hku_sz"), estate.me))
    assert before["allowed"] is False and before["reason"] == "no_authorisation"
    codes = authorise(world, pid, "hku_sz")
    opening, listing = steps(ask(estate, question(pid, "hku_sz"), estate.me))
    assert opening["action"] == "open_viewing_session" and opening["allowed"] is True
    assert opening["authorisation"]["reference"] == f"Consent/cross-border-{codes.id}"
    assert listing["allowed"] is True and listing["supposedSession"] is True
    assert listing["visibleRecords"] == {"allergy": 1, "lab_report": 2}
    wider = steps(ask(estate, question(pid, "hku_sz", policy="five-year-lookback"), estate.me))
    assert wider[1]["visibleRecords"] == {"allergy": 1, "lab_report": 2, "medication": 1}
    assert wider[1]["visibleSince"] < listing["visibleSince"]

    doctor = staff(world, "hku_sz")  # what the doctor then really sees: the same counts
    opened = doctor.open(codes)
    assert opened.status_code == 201, opened.text
    sid = opened.json()["session_id"]
    seen = world.http.get(f"{SESSIONS}/{sid}/records", headers=doctor.headers())
    assert len(seen.json()["items"]) == sum(listing["visibleRecords"].values())
    assert WHAT_IF_SESSION not in seen.text


def test_the_operator_may_ask_anyone_else_sees_not_found(estate: Estate) -> None:
    world = estate.world
    by_operator = steps(ask(estate, question(estate.pid, "ha"), world.operator))
    assert by_operator[0]["allowed"] is True
    assert "visibleRecords" not in by_operator[0]  # decisions only: no counts (R9)
    hidden = ask(estate, question(estate.pid, "ha"), estate.stranger)  # not their caregiver
    missing = ask(estate, question("0" * 32, "ha"), estate.stranger)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content and code_of(hidden) == "not_found"
    assert ask(estate, question("0" * 32, "ha"), world.operator).status_code == 404
    professional = ask(estate, question(estate.pid, "ha"), staff(world, "ha").headers())
    assert professional.status_code == 403 and code_of(professional) == "wrong_role"
    assert ask(estate, question(estate.pid, "ha"), {}).status_code == 401
    unread = ask(estate, [1, 2], {})  # the token first: a bad body unauthenticated is 401
    assert unread.status_code == 401 and code_of(unread) == "invalid_token"


def test_a_caregiver_asks_while_appointed(estate: Estate) -> None:
    world = estate.world
    son, son_headers = world.person("Chan Siu Ming", "1980-01-01")
    appointed = world.http.post("/v1/me/caregivers", headers=estate.me, json={"caregiver_id": son})
    assert appointed.status_code == 201, appointed.text
    answer = steps(ask(estate, question(estate.pid, "ha"), son_headers))
    assert answer[0]["visibleRecords"] == {"allergy": 1, "lab_report": 3, "medication": 1}
    ended = world.http.delete(f"/v1/me/caregivers/{appointed.json()['id']}", headers=estate.me)
    assert ended.status_code == 204, ended.text
    hidden = ask(estate, question(estate.pid, "ha"), son_headers)
    missing = ask(estate, question("0" * 32, "ha"), son_headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"resourceType": "Patient"}, 400, "wrong_resource_type"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "y"}]},
            422,
            "validation_failed",
        ),
        ({"resourceType": "Parameters", "parameter": [], "extra": 1}, 422, "validation_failed"),
        (question("PID", "ha", policy="no-such-policy"), 400, "unknown_policy"),
        (question("PID", "no-such-institution"), 422, "unknown_institution"),
        (question("PID", "ha", profession="astrologer"), 400, "unknown_profession"),
        (
            {"resourceType": "Parameters", "parameter": question("PID", "ha")["parameter"][1:]},
            400,
            "missing_parameter",
        ),
        (
            {"resourceType": "Parameters", "parameter": question("PID", "ha")["parameter"] * 2},
            400,
            "invalid_parameter",
        ),
        (question("not a/reference", "ha"), 400, "invalid_reference"),
        ([1, 2], 422, "validation_failed"),
    ],
)
def test_bad_questions_get_an_operation_outcome_and_store_nothing(
    estate: Estate, body: Any, status: int, code: str
) -> None:
    if isinstance(body, dict):
        for p in body.get("parameter", []):
            if p.get("valueReference", {}).get("reference") == "Patient/PID":
                p["valueReference"]["reference"] = f"Patient/{estate.pid}"
    before = _audited(estate.world)
    answer = ask(estate, body, estate.me)
    assert answer.status_code == status, answer.text
    assert code_of(answer) == code
    assert _audited(estate.world) == before


def test_the_capability_statement_names_the_operation(estate: Estate) -> None:
    statement = valid(estate.world.http.get(f"{FHIR}/metadata").json())
    (consent,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Consent"]
    assert [op["name"] for op in consent["operation"]] == ["explain"]
