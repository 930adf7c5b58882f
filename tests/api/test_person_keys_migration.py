"""Revision 0006_person_keys carries a populated database over: people, records,
consents, a cross-border authorisation with an open viewing session and a radiology
deposit with a file, all made through the server, are taken back to revision 0005 (keys
by ``id`` alone, no handle directory), upgraded again, and read back through a new server
— the session and the deposit routed through the handles the migration wrote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from alembic import command
from sqlalchemy import inspect, text

from sim.studies import Study, instance
from tests.api.conftest import PASSWORD, START, World, served_world
from tests.api.cross_border_support import SESSIONS, Staff, authorise, staff
from tests.support.http import bearer
from tests.support.radiology import DICOM_NAME, include_radiology
from vault.core.clock import SimulatedClock
from vault.core.settings import Settings
from vault.store.audit import verify_chains
from vault.store.engine import make_engine, reading
from vault.store.schema import alembic_config, head_revision

DEPOSITS = "/v1/radiology/deposits"
CONSENTS = "/v1/me/sharing-consents"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _me(world: World, pid: str) -> dict[str, str]:
    return bearer(world.token(grant_type="password", username=pid, password=PASSWORD))


def _put(world: World, depositor: Staff, deposit_id: str, name: str) -> httpx.Response:
    return world.http.put(
        f"{DEPOSITS}/{deposit_id}/files/{name}",
        headers={**depositor.headers(), "Content-Type": "application/dicom"},
        content=instance(Study(patient_name=DICOM_NAME)),
    )


def _populate(world: World) -> dict[str, Any]:
    pid, me = world.person()
    other, _ = world.person("Wong Siu Ming")
    doctor = world.professional("ha")
    records = [world.deposit(pid, doctor, content=f"result {i}") for i in range(3)]
    world.deposit(other, doctor)
    body = {"institution_id": "hksh", "kind": "one_year", "scopes": ["ehr"]}
    consent = _ok(world.http.post(CONSENTS, headers=me, json=body), 201)["id"]
    mainland = staff(world, "hku_sz")
    session_id = _ok(mainland.open(authorise(world, pid, "hku_sz")), 201)["session_id"]
    code = _ok(
        world.http.post(
            "/v1/me/radiology-authorisations", headers=me, json={"institution_id": "hku_sz"}
        ),
        201,
    )["authorisation_code"]
    depositor = staff(world, "hku_sz", "radiographer")
    opened = {"authorisation_code": code, "clinical_date": "2026-03-01"}
    deposit = _ok(world.http.post(DEPOSITS, headers=depositor.headers(), json=opened), 201)
    _ok(_put(world, depositor, deposit["deposit_id"], "ct-1.dcm"), 201)
    return {
        "pid": pid,
        "records": records,
        "consent": consent,
        "session": session_id,
        "deposit": deposit["deposit_id"],
        "mainland": mainland,
        "depositor": depositor,
        "seen": _seen(world, pid, mainland, session_id),
    }


def _seen(world: World, pid: str, mainland: Staff, session_id: str) -> dict[str, Any]:
    me = _me(world, pid)
    return {
        "mine": _ok(world.http.get("/v1/me/records", headers=me))["items"],
        "consents": _ok(world.http.get(CONSENTS, headers=me))["items"],
        "session": _ok(mainland.get(f"{SESSIONS}/{session_id}/records"))["items"],
    }


def _alembic(url: str, action: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            getattr(command, action)(alembic_config(connection), revision)
    finally:
        engine.dispose()


def _columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_a_populated_database_is_carried_over_and_reads_back(api_settings: Settings) -> None:
    url = str(api_settings.database_url)
    with served_world(api_settings, prepare=include_radiology) as (world, _):
        made = _populate(world)
    assert len(made["seen"]["mine"]) == 3 and made["seen"]["session"]
    assert len(made["seen"]["consents"]) == 1
    _alembic(url, "downgrade", "0005")
    assert "person_id" not in _columns(url, "radiologyfile")
    _alembic(url, "upgrade", "head")
    assert "person_id" in _columns(url, "radiologyfile")
    with served_world(api_settings, prepare=include_radiology) as (world, _):
        assert isinstance(world.vault.clock, SimulatedClock)
        world.vault.clock.set(START + timedelta(minutes=5))  # after everything made above
        _read_back(world, made)


def _read_back(world: World, made: dict[str, Any]) -> None:
    pid = made["pid"]
    with reading(world.vault.engine) as session:
        version = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        handles = dict(session.execute(text("SELECT id, person_id FROM handle")).all())
        files = session.execute(text("SELECT person_id FROM radiologyfile")).scalars().all()
        report = verify_chains(session)
    assert version == head_revision()
    assert handles == {made["session"]: pid, made["deposit"]: pid}
    assert files == [pid]
    assert report.valid, report.describe()
    mainland, depositor = made["mainland"], made["depositor"]
    for who in (mainland, depositor):
        who.world, who._token = world, None
    assert _seen(world, pid, mainland, made["session"]) == made["seen"]
    me = _me(world, pid)
    for record_id in made["records"]:
        assert _ok(world.http.get(f"/v1/me/records/{record_id}", headers=me))["id"] == record_id
    consent = _ok(world.http.get(f"{CONSENTS}/{made['consent']}", headers=me))
    assert consent["id"] == made["consent"]
    _ok(_put(world, depositor, made["deposit"], "ct-2.dcm"), 201)
    done = _ok(
        world.http.post(f"{DEPOSITS}/{made['deposit']}/complete", headers=depositor.headers())
    )
    assert done["state"] == "completed" and len(done["files"]) == 2
    mine = _ok(world.http.get("/v1/me/records", headers=me))["items"]
    assert len(mine) == len(made["seen"]["mine"]) + 2
