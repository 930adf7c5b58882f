"""``POST /v1/auth/token`` (OAuth 2.0 token endpoint, form-encoded) and the JWKS."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import ServicesDep
from api.problems import Problem
from api.services import OPERATOR_CLIENT_ID, Services
from api.tokens import LIFETIME, Role
from vault.registry.institutions import authenticate_client
from vault.registry.persons import authenticate_person
from vault.store.tables import Professional

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


def _invalid(code: str = "invalid_grant") -> Problem:
    return Problem(400, code, "Invalid credentials", "The credentials were not accepted.")


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
    services: ServicesDep,
    grant_type: Annotated[Literal["password", "client_credentials"], Form()],
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    professional_id: Annotated[str | None, Form(max_length=64)] = None,
) -> TokenResponse:
    """``grant_type=password``: a citizen (username = person id). ``client_credentials``:
    an institution's client plus ``professional_id``, or the ``operator`` client."""
    if grant_type == "password":
        if not username or not password:
            raise _invalid()
        with Session(services.vault.engine) as session:
            person = authenticate_person(session, username, password)
        if person is None:
            raise _invalid()
        return _issue(services, person.id, "citizen")
    if not client_id or not client_secret:
        raise _invalid("invalid_client")
    if client_id == OPERATOR_CLIENT_ID:
        expected = services.operator_secret.reveal().encode()
        if not hmac.compare_digest(expected, client_secret.encode()):
            raise _invalid("invalid_client")
        return _issue(services, OPERATOR_CLIENT_ID, "operator")
    return _professional_token(services, client_id, client_secret, professional_id)


def _professional_token(
    services: Services, client_id: str, client_secret: str, professional_id: str | None
) -> TokenResponse:
    with Session(services.vault.engine) as session:
        institution_id = authenticate_client(session, client_id, client_secret)
        professional = session.get(Professional, professional_id) if professional_id else None
    if institution_id is None:
        raise _invalid("invalid_client")
    if professional is None or professional.institution_id != institution_id:
        raise _invalid()
    return _issue(services, professional.id, "professional", institution_id)


@router.get("/.well-known/jwks.json", summary="The token signing keys (JWKS)")
def jwks(services: ServicesDep) -> dict[str, Any]:
    return services.tokens.jwks()
