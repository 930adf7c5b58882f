"""``POST /fhir/r4/Consent/$explain``: what-if as a service (issue #18 item 5).

The body is a FHIR ``Parameters`` naming the person (``patient``, a ``Patient``
reference), the institution (``institution``) and optionally the professional
(``professional``, default ``what-if``), their ``profession`` (default ``doctor``) and the
``policy`` by name among those loaded (the one the server runs, then every policy file
shipped in the package; default: the one it runs). The answer is a ``Parameters`` with
one ``step`` per decision :mod:`vault.account.explaining` makes: the action, allowed or
not, the policy's reason, the authorisation it was asked under (a ``Consent`` id), the
visible set (dates, categories, sources) and, for an allowed listing, how many of the
person's records it would show by category. Never content.

Who may ask: the person, their caregiver (a citizen token naming another ``patient``)
and the operator (an operator token). Any other token is 403 ``wrong_role``; a person the
caller may not ask about is the same 404 as one who does not exist.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import ServicesDep
from api.fhir.caller import FhirCaller, fhir_claims
from api.fhir.outcome import FHIR_BASE, fhir_response
from api.fhir.search import invalid, reference
from api.observability import current_request_id
from api.problems import Problem
from api.services import Services
from api.tokens import Claims
from policies.explain import WHAT_IF_SESSION
from policies.model import Actor, Obligations
from policies.policy_file import Policy, PolicyError, bundled_policy_paths, load_policy
from policies.vocabulary import Profession
from vault.access.judge import Caller
from vault.account.explaining import AccessExplanations, Explanation, Step, WhatIf

router = APIRouter(tags=["fhir"], include_in_schema=False)  # see routes.py
_FORBID = ConfigDict(extra="forbid")
EXPLAIN_DEFINITION = "https://crossvault.example/fhir/OperationDefinition/Consent-explain"
_NAMES = ("patient", "institution", "professional", "profession", "policy")


class _Reference(BaseModel):
    model_config = _FORBID
    reference: str = Field(max_length=200)


class _Parameter(BaseModel):
    model_config = _FORBID
    name: Literal["patient", "institution", "professional", "profession", "policy"]
    valueReference: _Reference | None = None
    valueString: str | None = Field(default=None, min_length=1, max_length=80)
    valueCode: str | None = Field(default=None, min_length=1, max_length=80)


class ExplainParameters(BaseModel):
    """The question, as FHIR Parameters (the elements this server reads, and no other)."""

    model_config = _FORBID
    resourceType: Literal["Parameters"]
    parameter: list[_Parameter] = Field(min_length=1, max_length=len(_NAMES))


@cache
def _bundled() -> dict[str, Policy]:
    """The shipped policy files, loaded once; one that does not load is left out (its
    error is the policy tests' to find), never a 500 for every question."""
    found: dict[str, Policy] = {}
    for path in bundled_policy_paths():
        try:
            policy = load_policy(path)
        except PolicyError:
            continue
        found[policy.name] = policy
    return found


def loaded_policies(services: Services) -> dict[str, Policy]:
    """The policies one may ask under, by name: the server's own, then the packaged ones."""
    return {services.policy.name: services.policy} | {
        name: policy for name, policy in _bundled().items() if name != services.policy.name
    }


def _token(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> Claims:
    """The caller's token, checked before the body is read (401 ``invalid_token``)."""
    return fhir_claims(services, authorization)


def _asker(claims: Claims, person: str) -> Caller:
    if claims.role == "operator":
        return Caller(Actor.operator(), request_id=current_request_id(), client_id=claims.subject)
    if claims.role == "citizen":
        return FhirCaller(claims, None, None).about(person)
    raise Problem(403, "wrong_role", "Forbidden", "Only the person, a caregiver or the operator.")


def _values(body: ExplainParameters) -> dict[str, str]:
    found: dict[str, str] = {}
    for p in body.parameter:
        value = p.valueReference.reference if p.valueReference else p.valueString or p.valueCode
        if p.name in found or value is None:
            raise invalid("invalid_parameter", f"{p.name}: one value, given once.")
        found[p.name] = value
    for needed in ("patient", "institution"):
        if needed not in found:
            raise invalid("missing_parameter", f"The parameter {needed} is required.")
    return found


def _question(values: dict[str, str]) -> WhatIf:
    profession = values.get("profession", str(Profession.DOCTOR))
    if profession not in set(Profession):
        raise invalid("unknown_profession", "profession: one of " + ", ".join(Profession))
    return WhatIf(
        person_id=reference(values["patient"], "Patient"),
        institution_id=values["institution"],
        professional_id=values.get("professional", "what-if"),
        profession=profession,
    )


@router.post(f"{FHIR_BASE}/Consent/$explain", summary="What an actor could see, and why")
def explain_access(
    claims: Annotated[Claims, Depends(_token)],
    raw: Annotated[dict[str, Any], Body()],
    services: ServicesDep,
) -> Response:
    if raw.get("resourceType") != "Parameters":
        raise Problem(400, "wrong_resource_type", "Wrong resource type", "The body is Parameters.")
    try:
        body = ExplainParameters.model_validate(raw)
    except ValidationError as exc:  # 422 validation_failed, naming where (never the input)
        raise RequestValidationError(exc.errors(include_input=False)) from None
    values = _values(body)
    question = _question(values)
    policies = loaded_policies(services)
    policy = policies.get(values.get("policy", services.policy.name))
    if policy is None:
        raise invalid("unknown_policy", "policy: one of " + ", ".join(policies))
    caller = _asker(claims, question.person_id)
    explanation = AccessExplanations(services.judge).explain_access(caller, question, policy)
    return fhir_response(answer(question, explanation))


def answer(question: WhatIf, explanation: Explanation) -> dict[str, Any]:
    """The explanation as FHIR Parameters."""
    head: list[dict[str, Any]] = [
        {"name": "policy", "valueString": explanation.policy},
        {"name": "patient", "valueReference": {"reference": f"Patient/{question.person_id}"}},
        {"name": "institution", "valueString": question.institution_id},
        {"name": "professional", "valueString": question.professional_id},
        {"name": "profession", "valueCode": question.profession},
        {"name": "actorKind", "valueCode": str(explanation.actor.kind)},
    ]
    return {
        "resourceType": "Parameters",
        "parameter": head + [{"name": "step", "part": _parts(s)} for s in explanation.steps],
    }


def _parts(step: Step) -> list[dict[str, Any]]:
    explained = step.explained
    decision, duties = explained.decision, explained.decision.obligations
    parts: list[dict[str, Any]] = [
        {"name": "action", "valueCode": str(explained.action)},
        {"name": "allowed", "valueBoolean": decision.allowed},
        {"name": "reason", "valueCode": str(decision.reason)},
    ]
    if explained.authorisation_id is not None:
        consent = f"Consent/cross-border-{explained.authorisation_id}"
        parts.append({"name": "authorisation", "valueReference": {"reference": consent}})
    if decision.grant_id == WHAT_IF_SESSION:
        parts.append({"name": "supposedSession", "valueBoolean": True})
    if decision.allowed:
        notify = {"name": "notifyPerson", "valueBoolean": duties.notify_person}
        parts += [*_visible_set(duties), notify]
    parts += [
        {
            "name": "visibleRecords",
            "part": [
                {"name": "category", "valueCode": category},
                {"name": "count", "valueInteger": count},
            ],
        }
        for category, count in step.visible.items()
    ]
    return parts


def _visible_set(duties: Obligations) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if duties.visible_since is not None:
        parts.append({"name": "visibleSince", "valueDate": duties.visible_since.isoformat()})
    if duties.visible_until is not None:
        parts.append({"name": "visibleUntil", "valueDate": duties.visible_until.isoformat()})
    for name, values in (("category", duties.categories), ("source", duties.sources)):
        parts += [{"name": name, "valueCode": str(v)} for v in sorted(values or ())]
    return parts
