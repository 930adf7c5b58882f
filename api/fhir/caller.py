"""Who calls the FHIR facade, and for whom.

A FHIR request carries either a SMART Backend Services token (audience
``crossvault-fhir``, limited by its scopes: :mod:`api.fhir.scopes`) or one of the API's
own tokens (a citizen's, a professional's): the same identities as the REST API, built by
the same guards, so a suspended professional is refused from the next request here too.
A citizen asking about another person acts as their caregiver (the policy checks the
delegation). A Mainland professional reads through the viewing session named in the
``X-Viewing-Session`` header — the same session the REST API reads through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from api.deps import ServicesDep, professional_caller
from api.fhir.scopes import Interaction, allows
from api.observability import current_request_id
from api.problems import Problem
from api.services import Services
from api.tokens import AUDIENCE, FHIR_AUDIENCE, Claims, InvalidToken
from policies.model import Actor
from policies.vocabulary import Action
from vault.access.judge import Caller
from vault.core.errors import NotFound
from vault.cross_border.sessions import ViewingSessions

_UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="crossvault-fhir"'}
SESSION_HEADER = "X-Viewing-Session"


def _unauthorised(detail: str) -> Problem:
    return Problem(401, "invalid_token", "Authentication required", detail, headers=_UNAUTHORISED)


def fhir_claims(services: Services, authorization: str | None) -> Claims:
    """The claims of a SMART token or one of the API's own (401 ``invalid_token``)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise _unauthorised("A valid bearer token is required.")
    token, now = authorization[7:].strip(), services.vault.clock.now()
    for audience in (FHIR_AUDIENCE, AUDIENCE):
        try:
            return services.tokens.verify(token, now=now, audience=audience)
        except InvalidToken:
            continue
    raise _unauthorised("The bearer token is invalid or expired.")


@dataclass(frozen=True)
class FhirCaller:
    """The token's party; :meth:`about` gives the :class:`Caller` for one person."""

    claims: Claims
    professional: Caller | None  # None: a citizen
    session_id: str | None

    def about(self, person_id: str) -> Caller:
        if self.professional is not None:
            return self.professional
        me = self.claims.subject
        rid = current_request_id()
        if person_id != me:
            return Caller(Actor.caregiver(me), acting_for=person_id, request_id=rid)
        return Caller(Actor.citizen(me), request_id=rid)

    def default_person(self, services: Services, action: Action) -> str | None:
        """Whom a search without ``patient`` is about: the citizen themselves, or the
        person of the Mainland professional's viewing session; ``None`` otherwise."""
        if self.professional is None:
            return self.claims.subject
        if self.session_id is not None:
            return ViewingSessions(services.judge).person_of(
                self.professional, self.session_id, action
            )
        return None

    def session_for(self, services: Services, person_id: str, action: Action) -> str | None:
        """The viewing session to read ``person_id`` through (it must be theirs:
        otherwise the canonical not-found, as for another person's session)."""
        if self.professional is None or self.session_id is None:
            return None
        shown = ViewingSessions(services.judge).person_of(
            self.professional, self.session_id, action
        )
        if shown != person_id:
            raise NotFound("not this session's person")
        return self.session_id

    def require(self, resource_type: str, interaction: Interaction) -> None:
        """A SMART token's scopes narrow: refuse what they do not cover."""
        if not allows(self.claims.scope, resource_type, interaction):
            raise Problem(
                403,
                "insufficient_scope",
                "Insufficient scope",
                f"The token's scopes do not cover this {resource_type} interaction.",
            )


def fhir_caller(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    viewing_session: Annotated[str | None, Header(alias=SESSION_HEADER, max_length=64)] = None,
) -> FhirCaller:
    claims = fhir_claims(services, authorization)
    if claims.role == "citizen":
        return FhirCaller(claims, None, None)
    if claims.role == "professional":
        return FhirCaller(claims, professional_caller(request, services, claims), viewing_session)
    raise Problem(403, "wrong_role", "Forbidden", "This token's role reads nothing over FHIR.")


FhirCallerDep = Annotated[FhirCaller, Depends(fhir_caller)]
