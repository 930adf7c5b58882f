"""``Provenance`` for deposits over real HTTP, validated with ``fhir.resources`` (R4B):
one per record the reader may see (target its DocumentReference, agent the depositing
professional on behalf of their institution, recorded the deposit instant), searched by
``patient`` or ``target``; hidden is missing, byte for byte; ``fhirpy`` searches too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhirpy import SyncFHIRClient

from api.fhir.resources import record_resource_id
from policies.dates import HONG_KONG
from tests.api.conftest import World, module_world
from tests.api.cross_border_support import Staff, citizen, staff
from tests.api.fhir_support import FHIR, code_of, valid
from tests.support.databases import DatabaseKind
from vault.core.clock import SimulatedClock

MISSING = "0" * 32


@dataclass
class Deposits:
    world: World
    pid: str
    me: dict[str, str]
    ha: Staff
    records: list[str]  # newest clinical date first
    before: datetime
    after: datetime


@pytest.fixture(scope="module")
def deposits(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deposits]:
    base: Path = tmp_path_factory.mktemp("fhir-provenance")
    with module_world(request, db_kind, base, "fhir_provenance") as (world, _, _):
        pid, me = world.person("Chan Tai Man", "1951-03-14")
        ha = staff(world, "ha")
        before = world.vault.clock.now()
        made = [
            world.deposit(pid, ha.headers(), clinical_date=d) for d in ("2023-01-02", "2025-04-05")
        ]
        yield Deposits(world, pid, me, ha, made[::-1], before, world.vault.clock.now())


def _get(d: Deposits, path: str, headers: dict[str, str], **params: Any) -> Any:
    return d.world.http.get(f"{FHIR}/{path}", headers=headers, params=params)


def _entries(d: Deposits, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = _get(d, "Provenance", headers, **params)
    assert response.status_code == 200, response.text
    return [e["resource"] for e in valid(response.json())["entry"]]


def test_the_person_sees_who_deposited_each_record_and_when(deposits: Deposits) -> None:
    d = deposits
    ids = [record_resource_id(d.pid, r) for r in d.records]
    found = _entries(d, d.me, patient=f"Patient/{d.pid}")
    documents = _get(d, "DocumentReference", d.me, patient=d.pid).json()["entry"]
    assert [p["target"][0]["reference"] for p in found] == [
        f"DocumentReference/{e['resource']['id']}" for e in documents
    ]
    assert [p["id"] for p in found] == ids
    for item in found:
        [agent] = item["agent"]
        assert agent["who"]["identifier"]["value"] == d.ha.id
        assert agent["onBehalfOf"]["identifier"]["value"] == "ha"
        assert agent["type"]["coding"][0]["code"] == "author"
        recorded = datetime.fromisoformat(item["recorded"])
        assert d.before.replace(microsecond=0) <= recorded <= d.after
        read = _get(d, f"Provenance/{item['id']}", d.me)
        assert read.status_code == 200 and valid(read.json()) == item
    one = _entries(d, d.me, target=f"DocumentReference/{ids[1]}")
    assert [p["id"] for p in one] == [ids[1]]
    paged = _get(d, "Provenance", d.me, patient=d.pid, _count=1).json()
    assert [link["relation"] for link in paged["link"]] == ["self", "next"]


def test_the_depositor_searches_with_fhirpy_as_they_read_the_records(deposits: Deposits) -> None:
    d = deposits
    base = str(d.world.http.base_url).rstrip("/") + FHIR
    client = SyncFHIRClient(base, authorization=d.ha.headers()["Authorization"])
    found = client.resources("Provenance").search(patient=d.pid).limit(1).fetch_all()
    documents = client.resources("DocumentReference").search(patient=d.pid).fetch_all()
    assert [p["target"][0]["reference"] for p in found] == [
        f"DocumentReference/{r['id']}" for r in documents
    ]
    for resource in found:
        valid(dict(resource))


def test_hidden_provenance_is_missing(deposits: Deposits) -> None:
    d = deposits
    hksh = staff(d.world, "hksh").headers()  # no consent from the person
    rid = record_resource_id(d.pid, d.records[0])
    hidden = _get(d, f"Provenance/{rid}", hksh)
    absent = _get(d, f"Provenance/{d.pid}.{MISSING}", hksh)
    assert hidden.status_code == absent.status_code == 404
    assert hidden.content == absent.content and code_of(hidden) == "not_found"
    assert _entries(d, hksh, target=f"DocumentReference/{rid}") == []
    assert _entries(d, hksh, patient=d.pid) == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"target": "Patient/x"}, "invalid_reference"),
        ({"target": "DocumentReference/a.b", "patient": "p"}, "repeated_parameter"),
        ({"agent": "ha"}, "unsupported_parameter"),
        ({"_total": "accurate"}, "total_not_supported"),
        ({"target:DocumentReference": "a.b"}, "modifier_not_supported"),
    ],
)
def test_bad_provenance_searches_get_an_operation_outcome(
    deposits: Deposits, params: dict[str, str], code: str
) -> None:
    response = _get(deposits, "Provenance", deposits.me, **params)
    assert 400 <= response.status_code < 500 and code_of(response) == code


def test_last_updated_searches_the_deposit_instant(deposits: Deposits) -> None:
    d = deposits
    clock = d.world.vault.clock
    assert isinstance(clock, SimulatedClock)
    pid, me = d.world.person("Wong Siu Ming", "1970-01-01")
    first = d.world.deposit(pid, d.ha.headers(), clinical_date="2024-01-01")
    clock.advance(timedelta(days=2))
    second = d.world.deposit(pid, d.ha.headers(), clinical_date="2020-01-01")
    me = citizen(d.world, pid)
    middle = (clock.now() - timedelta(days=1)).astimezone(HONG_KONG)

    def ids(**params: str | list[str]) -> list[str]:
        response = _get(d, "DocumentReference", me, **params)
        assert response.status_code == 200, response.text
        return [e["resource"]["id"] for e in valid(response.json())["entry"]]

    def rid(record: str) -> str:
        return record_resource_id(pid, record)

    assert ids(_lastUpdated=f"ge{middle.isoformat()}") == [rid(second)]
    assert ids(_lastUpdated=f"le{middle.isoformat()}") == [rid(first)]
    assert ids(_lastUpdated=f"ge{clock.now().astimezone(HONG_KONG).date()}") == [rid(second)]
    both = ids(_lastUpdated=["ge2020-01-01", f"le{clock.now().date() + timedelta(days=1)}"])
    assert both == [rid(first), rid(second)]
    documents = _get(d, "DocumentReference", me).json()["entry"]
    provenances = {p["id"]: p["recorded"] for p in _entries(d, me, patient=pid)}
    for entry in documents:
        resource = entry["resource"]
        assert resource["meta"]["lastUpdated"] == provenances[resource["id"]]
