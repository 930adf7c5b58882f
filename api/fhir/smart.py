"""SMART Backend Services: discovery, the token endpoint and client registration.

* ``GET /fhir/r4/.well-known/smart-configuration`` (and at the server root) — discovery.
* ``POST /v1/auth/smart/token`` — ``grant_type=client_credentials`` with a signed
  ``client_assertion`` (:mod:`api.fhir.assertions`), ``scope`` (:mod:`api.fhir.scopes`)
  and ``professional_id``: the institution's professional the token acts as (explicit,
  and named in every audit entry, as with the API's own client credentials).
* ``POST /v1/institutions/{iid}/smart-clients`` (the institution's admin token: register a
  public JWK set, get a ``client_id``) and ``DELETE .../smart-clients/{client_id}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.deps import AdminCaller, ServicesDep
from api.fhir import assertions
from api.fhir.scopes import MAX_SCOPE_CHARS, SUPPORTED_SCOPES, granted
from api.problems import Problem
from api.tokens import LIFETIME
from vault.registry.institutions import professional_of
from vault.registry.smart import SmartClients

router = APIRouter()
TOKEN_PATH = "/v1/auth/smart/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_url(request: Request) -> str:
    """This token endpoint's absolute URL: what a client assertion's ``aud`` must be."""
    return str(request.base_url).rstrip("/") + TOKEN_PATH


def _configuration(request: Request) -> dict[str, Any]:
    return {
        "issuer": str(request.base_url).rstrip("/") + "/fhir/r4",
        "token_endpoint": token_url(request),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(assertions.ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["token"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
        "code_challenge_methods_supported": [],
    }


@router.get("/fhir/r4/.well-known/smart-configuration", include_in_schema=False)
def smart_configuration(request: Request) -> dict[str, Any]:
    """SMART discovery (SMART App Launch 2.x): Backend Services only."""
    return _configuration(request)


@router.get("/.well-known/smart-configuration", tags=["auth"], summary="SMART configuration")
def smart_configuration_at_root(request: Request) -> dict[str, Any]:
    """SMART discovery (also at ``/fhir/r4/.well-known/smart-configuration``, where the
    FHIR base's clients look): SMART Backend Services only."""
    return _configuration(request)


class SmartTokenForm(BaseModel):
    """A SMART Backend Services token request (form-encoded, RFC 7523)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "client_credentials",
                    "client_assertion_type": JWT_BEARER,
                    "client_assertion": "eyJhbGciOiJFUzM4NCIsImtpZCI6ImstMSJ9...",
                    "scope": "system/DocumentReference.rs",
                    "professional_id": "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f",
                }
            ]
        }
    )

    grant_type: Literal["client_credentials"] = Field(
        description="Always `client_credentials` (SMART Backend Services)."
    )
    client_assertion_type: Literal["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"] = (
        Field(description="Always the JWT bearer assertion type.")
    )
    client_assertion: str = Field(
        max_length=assertions.MAX_ASSERTION_CHARS,
        description="A JWT signed ES384 or RS384 with a registered key: `iss` = `sub` = the "
        "client id, `aud` = this token endpoint, `exp` at most 5 minutes ahead, a fresh `jti`.",
    )
    scope: str = Field(max_length=MAX_SCOPE_CHARS, description="e.g. `system/*.rs`.")
    professional_id: str = Field(
        max_length=64, description="The institution's professional the token acts as."
    )


class SmartTokenResponse(BaseModel):
    """A FHIR-only bearer token for one professional, limited to its scopes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6InRva2VuLTEifQ...",
                    "token_type": "Bearer",
                    "expires_in": 900,
                    "scope": "system/DocumentReference.rs",
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str = Field(description="The system scopes granted (never wider than asked).")


@router.post(
    TOKEN_PATH,
    response_model=SmartTokenResponse,
    tags=["auth"],
    summary="Obtain a FHIR token (SMART Backend Services)",
)
def smart_token(
    request: Request, services: ServicesDep, form: Annotated[SmartTokenForm, Form()]
) -> SmartTokenResponse:
    """A FHIR-only token (15 minutes) for one of the client institution's professionals,
    limited to the granted scopes. Each assertion is accepted once (its ``jti``)."""
    scope = granted(form.scope)
    if not scope:
        raise Problem(
            400,
            "invalid_scope",
            "Invalid scope",
            f"Ask for some of: {' '.join(SUPPORTED_SCOPES)}.",
            error="invalid_scope",
        )
    engine, now = services.vault.engine, services.vault.clock.now()
    client = assertions.accept(engine, form.client_assertion, token_url(request), now)
    if not professional_of(engine, form.professional_id, client.institution_id):
        raise Problem(
            400,
            "invalid_grant",
            "Invalid grant",
            "professional_id is not an active professional of the client's institution.",
            error="invalid_grant",
        )
    token, _ = services.tokens.issue(
        subject=form.professional_id,
        role="professional",
        institution_id=client.institution_id,
        now=now,
        scope=scope,
    )
    return SmartTokenResponse(
        access_token=token, expires_in=int(LIFETIME.total_seconds()), scope=scope
    )


_EXAMPLE_KEY: dict[str, JsonValue] = {
    "kty": "EC",
    "crv": "P-384",
    "kid": "k-1",
    "alg": "ES384",
    "x": "GB18sw7N5fB2J4Q6su47aWhFqi_3gNKnJxPiis7YjVBMop1mKOydYyDJmWPnHIKk",
    "y": "vlCMHnJ_VroiryscLrDirLfW98JtalQTfCFD6UXWQjgI8efZJQWhVcGdgUSy6h1W",
}


class SmartClientCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"jwks": {"keys": [_EXAMPLE_KEY]}}]},
    )
    jwks: dict[str, Any] = Field(description="The client's public JWK set (ES384 or RS384).")


class SmartClientCreated(BaseModel):
    """The registered SMART client: the id its assertions name, and where to send them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "smart-hku_sz-3f2a9c1e",
                    "token_endpoint": "https://vault.example.hk/v1/auth/smart/token",
                }
            ]
        }
    )

    client_id: str
    token_endpoint: str = Field(description="Where the client's assertions are sent (`aud`).")


@router.post(
    "/v1/institutions/{iid}/smart-clients",
    status_code=status.HTTP_201_CREATED,
    response_model=SmartClientCreated,
    tags=["institution-admin"],
    summary="Register a SMART client (a public JWK set)",
)
def register_smart_client(
    iid: str, body: SmartClientCreate, request: Request, services: ServicesDep, caller: AdminCaller
) -> SmartClientCreated:
    """Register a SMART Backend Services client for your institution with its public
    keys (EC P-384 or RSA ≥ 2048 bits, each with a ``kid``). 422 ``invalid_jwks``."""
    client = SmartClients(services.judge).register(caller, iid, body.jwks)
    return SmartClientCreated(client_id=client.client_id, token_endpoint=token_url(request))


@router.delete(
    "/v1/institutions/{iid}/smart-clients/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["institution-admin"],
    summary="Revoke a SMART client",
)
def revoke_smart_client(
    iid: str, client_id: str, services: ServicesDep, caller: AdminCaller
) -> None:
    """Revoke one of your SMART clients from this instant (tokens it got expire as usual)."""
    SmartClients(services.judge).revoke(caller, iid, client_id)
