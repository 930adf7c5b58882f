"""End to end over real HTTP: a person, an HA deposit, the person's own reads."""

from __future__ import annotations

from tests.api.conftest import World


def test_ha_deposits_and_the_person_reads(world: World) -> None:
    pid, me = world.person()
    ha = world.professional("ha")
    record_id = world.deposit(pid, ha, content="creatinine 88 umol/L")
    listed = world.http.get("/v1/me/records", headers=me)
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [record_id]
    content = world.http.get(f"/v1/me/records/{record_id}/content", headers=me)
    assert content.status_code == 200 and content.text == "creatinine 88 umol/L"
    # HA holds implied sharing consent: it reads too
    assert world.http.get(f"/v1/patients/{pid}/records/{record_id}", headers=ha).status_code == 200


def test_a_private_hospital_without_consent_sees_nothing(world: World) -> None:
    pid, _ = world.person()
    ha = world.professional("ha")
    record_id = world.deposit(pid, ha)
    hksh = world.professional("hksh")
    hidden = world.http.get(f"/v1/patients/{pid}/records/{record_id}", headers=hksh)
    missing = world.http.get(f"/v1/patients/{pid}/records/{'0' * 32}", headers=hksh)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert hidden.headers["content-type"] == "application/problem+json"
