"""``POST /fhir/r4/Consent`` (give a sharing consent) and ``DELETE /fhir/r4/Consent/{id}``
(revoke a consent or an authorisation), for the person and their caregivers, through the
same use-cases as ``/v1/me`` (decided, audited, and refused the same way).

The body is read strictly: ``resourceType`` other than ``Consent`` is 400
``wrong_resource_type``; an element this server does not read (anywhere in the body) is
422 ``validation_failed`` naming where — never silently dropped. The term is
``policyRule`` coded in :data:`TERM_SYSTEM` (``one_year`` or ``indefinite``, as the
Consent this server returns says); the sources are ``provision.class``.
Cross-border and radiology authorisations are applied for over ``/v1/me``: their codes are
shown once, which a FHIR Consent has no place for.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from api.deps import ServicesDep
from api.fhir import resources
from api.fhir.caller import FhirCallerDep
from api.fhir.outcome import FHIR_BASE, fhir_response
from api.fhir.person import citizen_only, person_of
from api.fhir.search import invalid, parse, reference
from api.problems import Problem
from policies.vocabulary import ConsentKind, Source
from vault.core.errors import NotFound
from vault.cross_border.authorisations import CrossBorderAuthorisations
from vault.radiology.authorisations import RadiologyAuthorisations
from vault.sharing.consents import SharingConsents

router = APIRouter(tags=["fhir"], include_in_schema=False)  # see routes.py
TERM_SYSTEM = resources.TERM_SYSTEM
_FORBID = ConfigDict(extra="forbid")


class _Coding(BaseModel):
    model_config = _FORBID
    system: str | None = Field(default=None, max_length=200)
    code: str = Field(max_length=80)
    display: str | None = Field(default=None, max_length=200)


class _Concept(BaseModel):
    model_config = _FORBID
    coding: list[_Coding] = Field(min_length=1, max_length=5)
    text: str | None = Field(default=None, max_length=200)


class _Identifier(BaseModel):
    model_config = _FORBID
    system: str = Field(max_length=200)
    value: str = Field(max_length=80)


class _Reference(BaseModel):
    model_config = _FORBID
    reference: str | None = Field(default=None, max_length=200)
    identifier: _Identifier | None = None
    display: str | None = Field(default=None, max_length=200)


class _Actor(BaseModel):
    model_config = _FORBID
    role: _Concept
    reference: _Reference


class _Provision(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["permit"]
    actor: list[_Actor] = Field(min_length=1, max_length=1)
    purpose: list[_Coding] | None = Field(default=None, max_length=3)
    classes: list[_Coding] = Field(alias="class", min_length=1, max_length=2)


_EXAMPLE: dict[str, JsonValue] = {
    "resourceType": "Consent",
    "status": "active",
    "scope": {"coding": [{"system": resources.CONSENT_SCOPE, "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"reference": "Patient/demo-chan"},
    "policyRule": {"coding": [{"system": TERM_SYSTEM, "code": "one_year"}]},
    "provision": {
        "type": "permit",
        "actor": [
            {
                "role": {"coding": [{"code": "IRCP"}]},
                "reference": {
                    "identifier": {"system": resources.INSTITUTION_SYSTEM, "value": "hksh"}
                },
            }
        ],
        "class": [{"system": resources.SOURCE_SYSTEM, "code": "ehr"}],
    },
}


class ConsentCreate(BaseModel):
    """A sharing consent, as a FHIR Consent (the elements this server reads, and no other)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})
    resourceType: Literal["Consent"]
    status: Literal["active"]
    scope: _Concept
    category: list[_Concept] = Field(min_length=1, max_length=3)
    patient: _Reference
    policyRule: _Concept
    provision: _Provision


def _wrong_type(body: Any) -> None:
    if not isinstance(body, dict) or body.get("resourceType") != "Consent":
        raise Problem(400, "wrong_resource_type", "Wrong resource type", "The body is a Consent.")


def _coded(concept: _Concept, system: str) -> str:
    for coding in concept.coding:
        if coding.system == system:
            return coding.code
    raise invalid("missing_code", f"A code of {system} is required.")


def _terms(body: ConsentCreate) -> tuple[str, ConsentKind, list[str]]:
    who = body.provision.actor[0].reference.identifier
    if who is None or who.system != resources.INSTITUTION_SYSTEM:
        raise invalid("missing_institution", "provision.actor names the institution.")
    term = _coded(body.policyRule, TERM_SYSTEM)
    if term not in set(ConsentKind):
        raise invalid("unknown_term", "The term is one_year or indefinite.")
    scopes = [c.code for c in body.provision.classes if c.system == resources.SOURCE_SYSTEM]
    if not scopes or not set(scopes) <= set(Source):
        raise invalid("unknown_source", "provision.class: ehr and/or personal_folder.")
    return who.value, ConsentKind(term), scopes


@router.post(
    f"{FHIR_BASE}/Consent", status_code=status.HTTP_201_CREATED, summary="Give a sharing consent"
)
def create_consent(
    raw: Annotated[dict[str, Any], Body()], services: ServicesDep, fc: FhirCallerDep
) -> Response:
    """Give a Hong Kong institution sharing consent (replacing one it holds), as on
    ``POST /v1/me/sharing-consents``; answers the Consent, with its ``Location``."""
    fc.require("Consent", "c")
    citizen_only(fc)
    _wrong_type(raw)
    try:
        body = ConsentCreate.model_validate(raw)
    except ValidationError as exc:  # 422 validation_failed, naming where (never the input)
        raise RequestValidationError(exc.errors(include_input=False)) from None
    person = reference(body.patient.reference or "", "Patient")
    institution, kind, scopes = _terms(body)
    view = SharingConsents(services.judge).give_sharing_consent(
        fc.about(person), person, institution, kind, scopes
    )
    made = resources.sharing_consent(person, view)
    return fhir_response(made, 201, Location=f"Consent/{made['id']}")


@router.delete(
    f"{FHIR_BASE}/Consent/{{cid}}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke"
)
def revoke_consent(
    cid: str, request: Request, services: ServicesDep, fc: FhirCallerDep
) -> Response:
    """Revoke a sharing consent, a cross-border or a radiology authorisation from this
    instant (a caregiver names the person with ``patient``)."""
    fc.require("Consent", "d")
    citizen_only(fc)
    person = person_of(fc, parse(request.query_params, frozenset({"patient"})))
    caller, judge = fc.about(person), services.judge
    kind, vault_id = resources.consent_kind(cid)
    if kind == "sharing":
        SharingConsents(judge).revoke_sharing_consent(caller, person, vault_id)
    elif kind == "cross-border":
        CrossBorderAuthorisations(judge).revoke_cross_border(caller, person, vault_id)
    elif kind == "radiology":
        RadiologyAuthorisations(judge).revoke_radiology(caller, person, vault_id)
    else:
        raise NotFound("not a consent id")
    return Response(status_code=204)
