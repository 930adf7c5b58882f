"""The person's own resources, for the person and their caregivers: ``Consent`` (sharing
consents, cross-border authorisations, radiology authorisations) and ``AuditEvent`` (the
access log). Read through the same use-cases as ``/v1/me`` (decided and audited there);
a professional's token is ``wrong_role`` here, as on ``/v1/me``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import ServicesDep
from api.fhir import resources
from api.fhir.bundles import searchset
from api.fhir.caller import FhirCaller, FhirCallerDep
from api.fhir.outcome import FHIR_BASE, fhir_response
from api.fhir.search import Search, invalid, parse, reference
from api.problems import Problem
from api.services import Services
from policies.dates import hk_date
from vault.account.profile import Account
from vault.core.errors import NotFound
from vault.cross_border.authorisations import CrossBorderAuthorisations
from vault.radiology.authorisations import RadiologyAuthorisations
from vault.sharing.consents import SharingConsents

router = APIRouter(tags=["fhir"], include_in_schema=False)  # see routes.py
_PARAMS = frozenset({"patient"})


def citizen_only(fc: FhirCaller) -> None:
    if fc.professional is not None:
        raise Problem(403, "wrong_role", "Forbidden", "Consents and access logs are the person's.")


def person_of(fc: FhirCaller, search: Search) -> str:
    given = search.values.get("patient")
    return reference(given, "Patient") if given else fc.claims.subject


def _visible_since(services: Services) -> Any:
    return services.policy.visible_since(hk_date(services.vault.clock.now()))


def _consents(services: Services, fc: FhirCaller, person: str) -> list[dict[str, Any]]:
    caller, judge = fc.about(person), services.judge
    since = _visible_since(services)
    found = [
        resources.sharing_consent(person, v)
        for v in SharingConsents(judge).sharing_consents(caller, person)
    ]
    found += [
        resources.cross_border_consent(person, v, since)
        for v in CrossBorderAuthorisations(judge).cross_border_authorisations(caller, person)
    ]
    found += [
        resources.radiology_consent(person, v)
        for v in RadiologyAuthorisations(judge).radiology_authorisations(caller, person)
    ]
    return found


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 6:
        raise invalid("invalid_cursor", "_cursor values must be passed back unchanged.")
    return int(cursor)


@router.get(f"{FHIR_BASE}/Consent", summary="Search Consent")
def search_consents(request: Request, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """Every consent and authorisation the person gave, in force or not (``status``):
    sharing consents, then cross-border, then radiology authorisations, newest first."""
    fc.require("Consent", "s")
    citizen_only(fc)
    search = parse(request.query_params, _PARAMS)
    start = _offset(search.cursor)
    try:
        found = _consents(services, fc, person_of(fc, search))
    except NotFound:
        found = []
    page = found[start : start + search.count]
    more = start + search.count < len(found)
    return fhir_response(searchset(request, page, str(start + search.count) if more else None))


def _consent(services: Services, fc: FhirCaller, person: str, cid: str) -> dict[str, Any]:
    caller, judge = fc.about(person), services.judge
    kind, vault_id = resources.consent_kind(cid)
    if kind == "sharing":
        view = SharingConsents(judge).sharing_consent(caller, person, vault_id)
        return resources.sharing_consent(person, view)
    if kind == "cross-border":
        found = CrossBorderAuthorisations(judge).cross_border_authorisation(
            caller, person, vault_id
        )
        return resources.cross_border_consent(person, found, _visible_since(services))
    if kind == "radiology":
        given = RadiologyAuthorisations(judge).radiology_authorisation(caller, person, vault_id)
        return resources.radiology_consent(person, given)
    raise NotFound("not a consent id")


@router.get(f"{FHIR_BASE}/Consent/{{cid}}", summary="Read a Consent")
def read_consent(cid: str, request: Request, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """One consent or authorisation; a caregiver names the person with ``patient``."""
    fc.require("Consent", "r")
    citizen_only(fc)
    search = parse(request.query_params, _PARAMS)
    return fhir_response(_consent(services, fc, person_of(fc, search), cid))


@router.get(f"{FHIR_BASE}/AuditEvent", summary="Search AuditEvent (the access log)")
def search_audit_events(request: Request, services: ServicesDep, fc: FhirCallerDep) -> Response:
    """The person's access log, newest first (IHE BALP-shaped): every decision about
    them — who, what, allowed or refused, and why. Paged by ``next``."""
    fc.require("AuditEvent", "s")
    citizen_only(fc)
    search = parse(request.query_params, _PARAMS)
    person = person_of(fc, search)
    try:
        page = Account(services.judge).access_log(
            fc.about(person), person, limit=search.count, cursor=search.cursor
        )
    except NotFound:
        return fhir_response(searchset(request, [], None))
    found = [resources.audit_event(person, e) for e in page.entries]
    return fhir_response(searchset(request, found, page.next_cursor))
