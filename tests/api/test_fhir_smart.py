"""SMART Backend Services over real HTTP: discovery, JWK set registration by the
institution's admin client, the token endpoint's checks of a client assertion (each
refusal with its own code, nothing stored), scopes that narrow, and the professional
named in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jose import jwt
from sqlalchemy import func
from sqlmodel import Session, col, select

from tests.api.conftest import World, module_world
from tests.api.fhir_support import (
    FHIR,
    TOKEN_PATH,
    ClientKey,
    SmartClient,
    code_of,
    register,
    unsigned,
    valid,
)
from tests.support.databases import DatabaseKind
from vault.store.tables import AuditEntry, ClientAssertionUse
from vault.store.tables import SmartClient as SmartClientRow


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    base: Path = tmp_path_factory.mktemp("fhir-smart")
    with module_world(request, db_kind, base, "fhir_smart") as (w, _, _):
        yield w


@pytest.fixture(scope="module")
def hksh(world: World) -> SmartClient:
    return register(world, "hksh")


@pytest.fixture(scope="module")
def doctor(world: World) -> str:
    return world.registry.professional_id("hksh")


def _uses(world: World) -> int:
    with Session(world.vault.engine) as session:
        return int(session.exec(select(func.count()).select_from(ClientAssertionUse)).one())


def test_discovery_names_the_token_endpoint_and_asymmetric_client_auth(world: World) -> None:
    for path in (f"{FHIR}/.well-known/smart-configuration", "/.well-known/smart-configuration"):
        config = world.http.get(path).json()
        assert config["token_endpoint"] == str(world.http.base_url).rstrip("/") + TOKEN_PATH
        assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
        assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {
            "ES384",
            "RS384",
        }
        assert "client-confidential-asymmetric" in config["capabilities"]
        assert config["grant_types_supported"] == ["client_credentials"]


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_a_registered_key_gets_a_fhir_token_for_the_named_professional(
    world: World, alg: str
) -> None:
    client = register(world, "ha", alg)
    professional = world.registry.professional_id("ha")
    pid, _ = world.person()
    response = client.ask(client.assertion(), professional, "system/DocumentReference.rs junk")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "system/DocumentReference.rs" and body["token_type"] == "Bearer"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    found = world.http.get(f"{FHIR}/DocumentReference", params={"patient": pid}, headers=headers)
    assert found.status_code == 200, found.text
    valid(found.json())
    with Session(world.vault.engine) as session:  # the professional is who is audited
        entry = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.chain_id) == pid, col(AuditEntry.action) == "list_records")
            .order_by(col(AuditEntry.seq).desc())
        ).first()
    assert entry is not None and entry.actor_id == professional and entry.institution_id == "ha"


def test_scopes_narrow_and_the_rest_api_refuses_a_fhir_token(
    world: World, hksh: SmartClient, doctor: str
) -> None:
    pid, _ = world.person()
    only_patients = hksh.headers(doctor, "system/Patient.rs")
    refused = world.http.get(
        f"{FHIR}/DocumentReference", params={"patient": pid}, headers=only_patients
    )
    assert refused.status_code == 403 and code_of(refused) == "insufficient_scope"
    binary = world.http.get(f"{FHIR}/Binary/{pid}.{'0' * 32}", headers=only_patients)
    assert binary.status_code == 403 and code_of(binary) == "insufficient_scope"
    rest = world.http.get(f"/v1/patients/{pid}/records", headers=only_patients)
    assert rest.status_code == 401 and rest.json()["code"] == "invalid_token"
    # a scope never widens: a consent-less institution still sees nothing of the person
    everything = hksh.headers(doctor, "system/*.rs")
    hidden = world.http.get(f"{FHIR}/Patient/{pid}", headers=everything)
    assert hidden.status_code == 404 and code_of(hidden) == "not_found"
    nothing = world.http.get(f"{FHIR}/Consent", headers=everything)
    assert nothing.status_code == 403 and code_of(nothing) == "wrong_role"  # the person's


def test_only_the_institutions_admin_registers_and_only_public_keys(
    world: World, doctor: str
) -> None:
    key = ClientKey.generate()
    url = "/v1/institutions/hksh/smart-clients"
    body = {"jwks": {"keys": [key.public]}}
    assert world.http.post(url, json=body, headers=world.admin("ha")).status_code == 403
    professional = world.registry.professional("hksh")
    assert world.http.post(url, json=body, headers=professional).status_code == 403
    private = {**key.public, "d": "AAAA"}
    symmetric = {"kty": "oct", "k": "c2VjcmV0", "kid": "s"}
    p256 = {**ClientKey.generate().public, "crv": "P-256"}
    no_kid = {k: v for k, v in key.public.items() if k != "kid"}
    with Session(world.vault.engine) as session:
        before = len(session.exec(select(SmartClientRow)).all())
    for bad in ([private], [symmetric], [p256], [no_kid], [], [key.public, key.public]):
        r = world.http.post(url, json={"jwks": {"keys": bad}}, headers=world.admin("hksh"))
        assert r.status_code == 422 and r.json()["code"] == "invalid_jwks", r.text
    with Session(world.vault.engine) as session:
        assert len(session.exec(select(SmartClientRow)).all()) == before


def _refusal(client: SmartClient, assertion: str, professional: str) -> str:
    before = _uses(client.world)
    response = client.ask(assertion, professional)
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"
    assert _uses(client.world) == before  # nothing stored
    code: str = response.json()["code"]
    return code


def test_every_bad_assertion_is_refused_with_its_code_and_nothing_stored(
    world: World, hksh: SmartClient, doctor: str
) -> None:
    now = int(world.vault.clock.now().timestamp())
    claims = hksh.claims()
    other = ClientKey.generate()
    cases = {
        "assertion_malformed": "not.a.jwt",
        "assertion_algorithm": jwt.encode(claims, "secret", algorithm="HS256"),
        "invalid_client": hksh.assertion(sub="someone-else"),
    }
    cases["assertion_unknown_key"] = hksh.assertion(header={"kid": "nobody"})
    cases["assertion_signature"] = jwt.encode(
        claims, other.private_pem, algorithm="ES384", headers={"kid": hksh.key.kid}
    )
    cases["assertion_audience"] = hksh.assertion(aud="https://elsewhere.example/token")
    cases["assertion_expired"] = hksh.assertion(exp=now - 60)
    cases["assertion_lifetime"] = hksh.assertion(exp=now + 360)
    for expected, assertion in cases.items():
        assert _refusal(hksh, assertion, doctor) == expected, expected
    assert _refusal(hksh, unsigned(claims), doctor) == "assertion_algorithm"
    assert _refusal(hksh, unsigned(claims, "ES384", hksh.key.kid), doctor) == (
        "assertion_signature"
    )
    stranger = SmartClient(world, "no-such-client", hksh.key, "hksh")
    assert _refusal(stranger, stranger.assertion(), doctor) == "invalid_client"


def test_a_replayed_assertion_is_refused(world: World, hksh: SmartClient, doctor: str) -> None:
    assertion = hksh.assertion()
    assert hksh.ask(assertion, doctor).status_code == 200
    again = hksh.ask(assertion, doctor)
    assert again.status_code == 400 and again.json()["code"] == "assertion_replayed"


def test_the_professional_stays_explicit_and_a_revoked_client_gets_nothing(
    world: World, doctor: str
) -> None:
    client = register(world, "hksh", "RS384")
    elsewhere = world.registry.professional_id("ha")
    for someone in (elsewhere, "nobody"):
        r = client.ask(client.assertion(), someone)
        assert r.status_code == 400 and r.json()["code"] == "invalid_grant"
    nothing = client.ask(client.assertion(), doctor, "patient/*.read user/*.rs")
    assert nothing.status_code == 400 and nothing.json()["code"] == "invalid_scope"
    revoked = world.http.delete(
        f"/v1/institutions/hksh/smart-clients/{client.client_id}", headers=world.admin("hksh")
    )
    assert revoked.status_code == 204
    r = client.ask(client.assertion(), doctor)
    assert r.status_code == 401 and r.json()["code"] == "invalid_client"
