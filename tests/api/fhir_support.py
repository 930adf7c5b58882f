"""Helpers for the FHIR facade's tests: SMART client keys the test generates, signed
client assertions, registration through the institution's admin client, and validation of
every resource against ``fhir.resources`` (R4B models)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhir.resources.R4B import get_fhir_model_class
from jose import jwk, jwt

from tests.api.conftest import World
from tests.support.http import bearer

FHIR = "/fhir/r4"
TOKEN_PATH = "/v1/auth/smart/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class ClientKey:
    """A key pair a test generates; ``public`` is what the institution registers."""

    alg: str
    kid: str
    private_pem: str
    public: dict[str, Any]

    @classmethod
    def generate(cls, alg: str = "ES384") -> ClientKey:
        if alg == "ES384":
            key: Any = ec.generate_private_key(ec.SECP384R1())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        public = jwk.construct(public_pem.decode(), alg).to_dict()
        kid = f"k-{secrets.token_hex(4)}"
        return cls(alg, kid, pem, {**public, "kid": kid, "use": "sig"})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@dataclass
class SmartClient:
    world: World
    client_id: str
    key: ClientKey
    institution_id: str

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(self.world.vault.clock.now().timestamp())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": str(self.world.http.base_url).rstrip("/") + TOKEN_PATH,
            "exp": now + 240,
            "jti": secrets.token_urlsafe(16),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def assertion(self, *, header: dict[str, Any] | None = None, **overrides: Any) -> str:
        headers = {"kid": self.key.kid, **(header or {})}
        signed: str = jwt.encode(
            self.claims(**overrides), self.key.private_pem, algorithm=self.key.alg, headers=headers
        )
        return signed

    def ask(self, assertion: str, professional_id: str, scope: str = "system/*.rs") -> Any:
        return self.world.http.post(
            TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": assertion,
                "scope": scope,
                "professional_id": professional_id,
            },
        )

    def headers(self, professional_id: str, scope: str = "system/*.rs") -> dict[str, str]:
        response = self.ask(self.assertion(), professional_id, scope)
        assert response.status_code == 200, response.text
        return bearer(response.json()["access_token"])


def register(world: World, institution_id: str, alg: str = "ES384") -> SmartClient:
    key = ClientKey.generate(alg)
    response = world.http.post(
        f"/v1/institutions/{institution_id}/smart-clients",
        headers=world.admin(institution_id),
        json={"jwks": {"keys": [key.public]}},
    )
    assert response.status_code == 201, response.text
    return SmartClient(world, response.json()["client_id"], key, institution_id)


def unsigned(claims: dict[str, Any], alg: str = "none", kid: str = "k") -> str:
    return f"{b64({'alg': alg, 'kid': kid, 'typ': 'JWT'})}.{b64(claims)}."


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` once it validates with its R4B model (unknown elements refused)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    if resource["resourceType"] == "Bundle":
        assert "total" not in resource
        for entry in resource.get("entry", []):
            valid(entry["resource"])
    return resource


def code_of(response: Any) -> str:
    """The stable code of an OperationOutcome answer (which must validate)."""
    assert response.headers["content-type"].startswith("application/fhir+json"), response.text
    body = valid(response.json())
    assert body["resourceType"] == "OperationOutcome"
    code: str = body["issue"][0]["details"]["coding"][0]["code"]
    return code


def now_stamp() -> int:
    return int(time.time())
