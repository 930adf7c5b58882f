"""Typed dependencies: who is calling, and the services they may use.

Guards are dependencies (``CitizenCaller``, ``ProfessionalCaller``, ``AdminCaller``,
``OperatorCaller``); handlers stay short and never parse tokens themselves. Most guards
are ``async``: they do no blocking I/O, so they run on the event loop. The professional's
guard reads the professional on every request (in the thread pool), so that a suspension
is refused at once, in every worker.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import col

from api.observability import current_request_id
from api.problems import Problem
from api.security import BEARER, CITIZEN, INSTITUTION, OPERATOR
from api.services import Services
from api.tokens import Claims, InvalidToken
from policies.model import Actor
from policies.vocabulary import ActorKind, Region
from vault.access.judge import Caller
from vault.store.engine import reading
from vault.store.statements import Prepared
from vault.store.tables import Professional

_UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="crossvault"'}


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def unauthorised(detail: str = "A valid bearer token is required.") -> Problem:
    return Problem(401, "invalid_token", "Authentication required", detail, headers=_UNAUTHORISED)


def _verify(services: Services, authorization: str | None) -> Claims:
    if not authorization or not authorization.startswith("Bearer "):
        raise unauthorised()
    try:
        return services.tokens.verify(authorization[7:].strip(), now=services.vault.clock.now())
    except InvalidToken:
        raise unauthorised("The bearer token is invalid or expired.") from None


# Each kind of caller's claims: the same header, documented as the scheme that caller logs
# in with or a plain bearer token (see api.security).
_Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


async def citizen_claims(
    services: ServicesDep, authorization: Annotated[str | None, Security(CITIZEN)], _: _Bearer
) -> Claims:
    return _verify(services, authorization)


async def institution_claims(
    services: ServicesDep, authorization: Annotated[str | None, Security(INSTITUTION)], _: _Bearer
) -> Claims:
    return _verify(services, authorization)


async def operator_claims(
    services: ServicesDep, authorization: Annotated[str | None, Security(OPERATOR)], _: _Bearer
) -> Claims:
    return _verify(services, authorization)


def _request_id(request: Request) -> str | None:
    return current_request_id()


def client_address(request: Request) -> str:
    """The caller's address, as logins are throttled by it."""
    return request.client.host if request.client is not None else "unknown"


def wrong_role() -> Problem:
    return Problem(403, "wrong_role", "Forbidden", "This token's role cannot use this endpoint.")


async def citizen_caller(
    request: Request,
    claims: Annotated[Claims, Depends(citizen_claims)],
    on_behalf_of: Annotated[str | None, Header(alias="On-Behalf-Of", max_length=40)] = None,
) -> Caller:
    """A citizen, or — with ``On-Behalf-Of`` — a caregiver acting for that person."""
    if claims.role != "citizen":
        raise wrong_role()
    rid = _request_id(request)
    if on_behalf_of and on_behalf_of != claims.subject:
        return Caller(Actor.caregiver(claims.subject), acting_for=on_behalf_of, request_id=rid)
    return Caller(Actor.citizen(claims.subject), request_id=rid)


def subject_of(caller: Caller) -> str:
    """The person a citizen endpoint is about: themselves, or whom they care for."""
    return caller.acting_for or caller.actor.person_id or ""


# The professional a token names, read on every request: a suspension by the institution
# (or a credential revoked) is refused from the very next request, in every worker.
_PROFESSIONAL = Prepared(
    sa_select(
        col(Professional.institution_id),
        col(Professional.profession),
        col(Professional.suspended_at),
    ).where(col(Professional.id) == bindparam("id"))
)


def _professional(services: Services, claims: Claims) -> tuple[str, str]:
    """(institution, profession) of the token's professional, if they may act."""
    with reading(services.vault.engine) as session:
        row = _PROFESSIONAL.first(session, {"id": claims.subject})
    if row is None or row[0] != claims.institution_id or row[2] is not None:
        raise unauthorised("The token's professional is unknown or suspended.")
    return row[0], row[1]


def professional_caller(
    request: Request, services: ServicesDep, claims: Annotated[Claims, Depends(institution_claims)]
) -> Caller:
    """An institution's professional; HK or Mainland by the institution's region (R7:
    the token is bound to one institution)."""
    if claims.role != "professional" or claims.institution_id is None:
        raise wrong_role()
    institution_id, profession = _professional(services, claims)
    institution = services.policy.institutions.get(institution_id)
    mainland = institution is not None and institution.region is Region.MAINLAND
    kind = ActorKind.MAINLAND_PROFESSIONAL if mainland else ActorKind.HK_PROFESSIONAL
    actor = Actor(
        kind,
        institution_id=institution_id,
        professional_id=claims.subject,
        profession=profession,
    )
    return Caller(actor, request_id=_request_id(request))


async def admin_caller(
    request: Request, claims: Annotated[Claims, Depends(institution_claims)]
) -> Caller:
    """An institution's admin client (manages its own institution, reads nothing)."""
    if claims.role != "institution_admin" or claims.institution_id is None:
        raise wrong_role()
    actor = Actor(ActorKind.INSTITUTION_ADMIN, institution_id=claims.institution_id)
    return Caller(actor, request_id=_request_id(request), client_id=claims.subject)


async def operator_caller(
    request: Request, claims: Annotated[Claims, Depends(operator_claims)]
) -> Caller:
    if claims.role != "operator":
        raise wrong_role()
    return Caller(Actor.operator(), request_id=_request_id(request), client_id=claims.subject)


CitizenCaller = Annotated[Caller, Depends(citizen_caller)]
ProfessionalCaller = Annotated[Caller, Depends(professional_caller)]
AdminCaller = Annotated[Caller, Depends(admin_caller)]
OperatorCaller = Annotated[Caller, Depends(operator_caller)]
