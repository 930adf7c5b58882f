"""Independent FHIR clients against a live server: ``fhirpy`` searches with paging on a
SMART Backend Services token (a key this test generates and registers), ``fhirclient``
reads the CapabilityStatement, a Patient and a DocumentReference with its R4 models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fhirclient.models.documentreference import DocumentReference
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer
from fhirpy import SyncFHIRClient

from api.fhir.resources import record_resource_id
from tests.api.conftest import World, module_world
from tests.api.cross_border_support import staff
from tests.api.fhir_support import FHIR, register, valid
from tests.support.databases import DatabaseKind

DATES = ["2021-04-12", "2022-01-05", "2023-06-19", "2024-02-29", "2025-10-02"]


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    base: Path = tmp_path_factory.mktemp("fhir-clients")
    with module_world(request, db_kind, base, "fhir_clients") as (w, _, _):
        yield w


def _base(world: World) -> str:
    return str(world.http.base_url).rstrip("/") + FHIR


def test_fhirpy_pages_through_a_search_with_a_smart_token(world: World) -> None:
    pid, _ = world.person()
    ha = staff(world, "ha")
    made = [world.deposit(pid, ha.headers(), clinical_date=d) for d in DATES]
    client = register(world, "ha")
    token = client.headers(ha.id, "system/DocumentReference.rs")["Authorization"]
    fhir = SyncFHIRClient(_base(world), authorization=token)
    found = fhir.resources("DocumentReference").search(patient=pid).limit(2).fetch_all()
    assert [r["id"] for r in found] == [record_resource_id(pid, rid) for rid in made[::-1]]
    for resource in found:
        valid(dict(resource))
    recent = fhir.resources("DocumentReference").search(patient=pid, date="ge2024-01-01")
    assert len(recent.fetch_all()) == 2
    labs = fhir.resources("DocumentReference").search(patient=pid, category="medication")
    assert labs.fetch_all() == []


def test_fhirclient_reads_the_patient_and_a_document_reference(world: World) -> None:
    pid, me = world.person("Lee Mei Ling", "1986-09-02")
    ha = staff(world, "ha")
    rid = world.deposit(pid, ha.headers(), category="allergy", clinical_date="2024-08-03")
    server = FHIRServer(None, base_uri=_base(world) + "/")
    server.get_capability()  # parsed with fhirclient's R4 models
    assert server.capabilityStatement.fhirVersion == "4.0.1"
    server.session.headers["Authorization"] = me["Authorization"]
    patient = Patient.read(pid, server)
    assert patient.name[0].text == "Lee Mei Ling" and patient.birthDate.isostring == "1986-09-02"
    document = DocumentReference.read(record_resource_id(pid, rid), server)
    assert document.subject.reference == f"Patient/{pid}"
    assert document.category[0].coding[0].code == "allergy"
    assert document.content[0].attachment.url == f"Binary/{record_resource_id(pid, rid)}"
