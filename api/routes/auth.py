"""``POST /v1/auth/token`` (OAuth 2.0 token endpoint, form-encoded) and the JWKS."""

from __future__ import annotations

import base64
import hmac
from dataclasses import replace
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, Field

from api.deps import ServicesDep, client_address
from api.problems import Problem
from api.services import Services
from api.tokens import LIFETIME, Role
from policies.vocabulary import ActorKind
from vault.registry.institutions import ADMIN, authenticate_client, professional_of
from vault.registry.logins import Login, Logins
from vault.registry.persons import authenticate_person, registered_person

router = APIRouter(tags=["auth"])
TOKEN_FORM_EXAMPLES = {
    "citizen": {
        "summary": "A citizen (password grant)",
        "value": {
            "grant_type": "password",
            "username": "3f2a9c0e5b7d4e1f8a6b2c9d0e7f1a3b",
            "password": "correct horse battery staple",
        },
    },
    "professional": {
        "summary": "An institution's professional",
        "value": {
            "grant_type": "client_credentials",
            "client_id": "ha-1a2b3c4d",
            "client_secret": "s3cr3t-shown-once",
            "professional_id": "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f",
        },
    },
    "operator": {
        "summary": "The operator client",
        "value": {
            "grant_type": "client_credentials",
            "client_id": "operator",
            "client_secret": "from CROSSVAULT_OPERATOR_SECRET",
        },
    },
}


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    role: str

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiJ9...",
                    "token_type": "Bearer",
                    "expires_in": 900,
                    "role": "citizen",
                }
            ]
        }
    }


class TokenForm(BaseModel):
    """The token request (form-encoded, RFC 6749)."""

    grant_type: Literal["password", "client_credentials"] = Field(
        description="`password` for a citizen; `client_credentials` for a client."
    )
    username: str | None = Field(default=None, max_length=64, description="A citizen's id.")
    password: str | None = Field(default=None, max_length=256, description="Their password.")
    client_id: str | None = Field(default=None, max_length=64, description="A client's id.")
    client_secret: str | None = Field(
        default=None, max_length=256, description="The client's secret."
    )
    professional_id: str | None = Field(
        default=None,
        max_length=64,
        description="With an institution's client credentials: the professional the token acts as.",
    )


def invalid(code: str = "invalid_grant") -> Problem:
    return Problem(400, code, "Invalid credentials", "The credentials were not accepted.")


def missing(field: str) -> Problem:
    return Problem(400, "invalid_request", "Invalid request", f"{field} is required.", field=field)


def _issue(
    services: Services, subject: str, role: Role, institution_id: str | None = None
) -> TokenResponse:
    token, _ = services.tokens.issue(
        subject=subject, role=role, institution_id=institution_id, now=services.vault.clock.now()
    )
    return TokenResponse(access_token=token, expires_in=int(LIFETIME.total_seconds()), role=role)


@router.post(
    "/v1/auth/token",
    response_model=TokenResponse,
    summary="Obtain an access token",
    openapi_extra={
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"examples": TOKEN_FORM_EXAMPLES}}
        }
    },
)
def token(
    request: Request, services: ServicesDep, form: Annotated[TokenForm, Form()]
) -> TokenResponse:
    """``grant_type=password``: a citizen (username = person id). ``client_credentials``:
    an institution's client plus ``professional_id``, its admin client, or an operator.
    Failed logins are throttled per account and per address (429 with ``Retry-After``)."""
    logins = Logins(services.judge)
    address = client_address(request)
    if form.grant_type == "password":
        if not form.username or not form.password:
            raise invalid()
        return _citizen_token(
            services, logins, Login(ActorKind.CITIZEN, form.username, address), form.password
        )
    if form.client_id is None and form.client_secret is None:
        form = _basic_credentials(request, form)
    if not form.client_id or not form.client_secret:
        raise invalid("invalid_client")
    if form.client_id in services.operators:
        return _operator_token(services, logins, form.client_id, form.client_secret, address)
    return _client_token(services, logins, form, address)


def _basic_credentials(request: Request, form: TokenForm) -> TokenForm:
    """A client may authenticate with HTTP Basic instead of form fields (RFC 6749 2.3.1),
    as Swagger UI's client-credentials flow does."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return form
    try:
        decoded = unquote_plus(base64.b64decode(encoded.strip(), validate=True).decode())
    except (ValueError, UnicodeDecodeError):
        raise invalid("invalid_client") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or "\x00" in decoded or len(client_id) > 64 or len(secret) > 256:
        raise invalid("invalid_client")
    return form.model_copy(update={"client_id": client_id, "client_secret": secret})


def _citizen_token(
    services: Services, logins: Logins, login: Login, password: str
) -> TokenResponse:
    person_id = registered_person(services.vault.engine, login.name)
    login = replace(login, person_id=person_id)
    signed_in = logins.attempt(
        login, lambda: authenticate_person(services.vault.engine, login.name, password)
    )
    return _issue(services, signed_in, "citizen")


def _operator_token(
    services: Services, logins: Logins, client_id: str, secret: str, address: str
) -> TokenResponse:
    expected = services.operators[client_id].reveal().encode()
    login = Login(ActorKind.OPERATOR, client_id, address, refusal_code="invalid_client")
    logins.attempt(
        login, lambda: client_id if hmac.compare_digest(expected, secret.encode()) else None
    )
    return _issue(services, client_id, "operator")


def _client_token(
    services: Services, logins: Logins, form: TokenForm, address: str
) -> TokenResponse:
    assert form.client_id is not None and form.client_secret is not None
    login = Login(
        ActorKind.INSTITUTION_ADMIN, form.client_id, address, refusal_code="invalid_client"
    )
    engine, secret = services.vault.engine, form.client_secret
    client = logins.attempt(login, lambda: authenticate_client(engine, login.name, secret))
    if client.kind == ADMIN:
        if form.professional_id is not None:
            raise Problem(
                400,
                "invalid_request",
                "Invalid request",
                "An admin client acts as itself: send no professional_id.",
                field="professional_id",
            )
        return _issue(services, client.client_id, "institution_admin", client.institution_id)
    if not form.professional_id:
        raise missing("professional_id")
    if not professional_of(engine, form.professional_id, client.institution_id):
        raise invalid()
    return _issue(services, form.professional_id, "professional", client.institution_id)


@router.get("/.well-known/jwks.json", summary="The signing keys (JWKS): tokens, then checkpoints")
def jwks(services: ServicesDep) -> dict[str, Any]:
    """The public keys: the first signs the API's tokens, the second the audit
    checkpoints (``GET /v1/audit/checkpoints/latest``)."""
    checkpoint = services.vault.keyring.checkpoint_key()
    others = [] if checkpoint is None else [(checkpoint.kid, checkpoint.private_key.public_key())]
    return services.tokens.jwks(*others)
