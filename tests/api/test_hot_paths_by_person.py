"""Each hot path's SQL, recorded on SQLite as it runs through the real server, names its
person in every statement on a table distributed by person — so, distributed with Citus
(docs/scale-out.md), a request runs on the person's node alone.

The trace is SQLite's own (``sqlite3.Connection.set_trace_callback``, set on each new
connection of the vault's engine): it sees the ``Prepared`` statements, which run on the
DBAPI cursor past SQLAlchemy's events. Only the statements of the request under test are
kept (the checkpoint thread's, which read every chain on purpose, are not).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from sim.studies import Study, instance
from tests.api.conftest import World, served_world
from tests.api.cross_border_support import SESSIONS, authorise, staff
from tests.support.person_sql import offence, tables_of
from tests.support.radiology import DICOM_NAME, include_radiology
from vault.core.settings import Settings
from vault.store.distribution import BY_PERSON


@dataclass
class Trace:
    statements: list[str] = field(default_factory=list)
    recording: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, sql: str) -> None:
        if self.recording and threading.current_thread().name != "checkpoints":
            with self.lock:
                self.statements.append(sql)

    @contextmanager
    def of(self, what: str) -> Iterator[list[str]]:
        """Record the statements run inside the block (into the list it yields)."""
        taken: list[str] = []
        with self.lock:
            self.statements.clear()
        self.recording = True
        try:
            yield taken
        finally:
            self.recording = False
            with self.lock:
                taken.extend(self.statements)
        offences = [f"{why}:\n    {sql}" for sql in taken if (why := offence(sql))]
        assert not offences, f"{what}: statements that would fan out:\n" + "\n".join(offences)
        touched = set().union(*(tables_of(sql) for sql in taken))
        assert touched & set(BY_PERSON), f"{what}: nothing of a person was read ({touched})"


@pytest.fixture
def traced(api_settings: Settings, db_kind: str) -> Iterator[tuple[World, Trace]]:
    if db_kind != "sqlite":
        pytest.skip("the statements are traced by SQLite's own callback")
    trace = Trace()
    with served_world(api_settings, prepare=include_radiology) as (world, _):
        engine = world.vault.engine

        @event.listens_for(engine, "connect")
        def _trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(trace)

        engine.dispose()  # every connection from now on is a new, traced one
        yield world, trace


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_every_hot_path_names_its_person(traced: tuple[World, Trace]) -> None:
    world, trace = traced
    pid, me = world.person()
    doctor = world.professional("ha")
    record_id = world.deposit(pid, doctor)
    with trace.of("record list (a professional)"):
        _ok(world.http.get(f"/v1/patients/{pid}/records", headers=doctor))
    with trace.of("record list (the person)"):
        _ok(world.http.get("/v1/me/records", headers=me))
    with trace.of("record read"):
        _ok(world.http.get(f"/v1/patients/{pid}/records/{record_id}", headers=doctor))
        _ok(world.http.get(f"/v1/me/records/{record_id}", headers=me))
    with trace.of("consent change (give, revoke)"):
        body = {"institution_id": "hksh", "kind": "one_year", "scopes": ["ehr"]}
        consent = _ok(world.http.post("/v1/me/sharing-consents", headers=me, json=body), 201)
        revoke = world.http.delete(f"/v1/me/sharing-consents/{consent['id']}", headers=me)
        assert revoke.status_code == 204, revoke.text
    with trace.of("access log"):
        _ok(world.http.get("/v1/me/access-log", headers=me))
    _session_list(world, trace, pid)
    _deposit(world, trace, me)


def _session_list(world: World, trace: Trace, pid: str) -> None:
    codes = authorise(world, pid, "hku_sz")
    mainland = staff(world, "hku_sz")
    opened = _ok(mainland.open(codes), 201)
    with trace.of("cross-border session list"):
        _ok(mainland.get(f"{SESSIONS}/{opened['session_id']}/records"))


def _deposit(world: World, trace: Trace, me: dict[str, str]) -> None:
    code = _ok(
        world.http.post(
            "/v1/me/radiology-authorisations", headers=me, json={"institution_id": "hku_sz"}
        ),
        201,
    )["authorisation_code"]
    depositor = world.professional("hku_sz", profession="radiographer")
    deposits = "/v1/radiology/deposits"
    with trace.of("radiology deposit (open, file, complete)"):
        body = {"authorisation_code": code, "clinical_date": "2026-03-01"}
        deposit_id = _ok(world.http.post(deposits, headers=depositor, json=body), 201)["deposit_id"]
        put: Callable[..., httpx.Response] = world.http.put
        stored = put(
            f"{deposits}/{deposit_id}/files/ct-1.dcm",
            headers={**depositor, "Content-Type": "application/dicom"},
            content=instance(Study(patient_name=DICOM_NAME)),
        )
        _ok(stored, 201)
        _ok(world.http.post(f"{deposits}/{deposit_id}/complete", headers=depositor))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT record.id FROM record WHERE record.id = ?",
        "SELECT * FROM viewingsession WHERE viewingsession.professional_id = ?",
        "UPDATE radiologyfile SET state=? WHERE radiologyfile.deposit_id = ?",
        "DELETE FROM notification WHERE id = ?",
        "INSERT INTO radiologyfile (id, deposit_id, name) VALUES (?, ?, ?)",
        "SELECT auditentry.seq FROM auditentry WHERE auditentry.person_id = ?",
        "SELECT handle.person_id FROM handle WHERE handle.kind = ?",
        "SELECT r.id FROM record JOIN sharingconsent ON sharingconsent.id = record.id "
        "WHERE record.person_id = ?",
    ],
)
def test_a_statement_that_does_not_name_its_person_is_caught(sql: str) -> None:
    assert offence(sql) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT record.id FROM record WHERE record.person_id = ? AND record.id = ?",
        "SELECT person.date_of_birth FROM person WHERE person.id = ?",
        "UPDATE auditchain SET length=? WHERE auditchain.chain_id = ?",
        "INSERT INTO notification (person_id, id, at) VALUES (?, ?, ?)",
        "SELECT institution.id FROM institution",
        "SELECT handle.person_id FROM handle WHERE handle.id = ? AND handle.kind = ?",
        "SELECT * FROM crossborderauthorisation WHERE application_code_hash = ?",
    ],
)
def test_a_statement_on_one_person_passes(sql: str) -> None:
    assert offence(sql) is None, offence(sql)
