"""The FHIR facade's routes, in the order they match: SMART discovery and tokens, the
``CapabilityStatement``, the resources, and last a catch-all that answers every other
path under ``/fhir/r4`` with ``unsupported_resource_type`` (an ``OperationOutcome``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.fhir import consent_writes, explain, imaging, person, provenance, records, smart
from api.fhir.bundles import base_url
from api.fhir.explain import EXPLAIN_DEFINITION
from api.fhir.outcome import FHIR_BASE, FHIR_JSON, fhir_response, unsupported
from api.fhir.scopes import SUPPORTED_SCOPES

router = APIRouter()
router.include_router(smart.router)

_SEARCH = {
    "Patient": [("_id", "token")],
    "DocumentReference": [
        ("patient", "reference"),
        ("subject", "reference"),
        ("category", "token"),
        ("date", "date"),
        ("_lastUpdated", "date"),
    ],
    "Binary": [],
    "ImagingStudy": [
        ("patient", "reference"),
        ("subject", "reference"),
        ("started", "date"),
        ("date", "date"),
    ],
    "Provenance": [("patient", "reference"), ("target", "reference")],
    "Consent": [("patient", "reference")],
    "AuditEvent": [("patient", "reference")],
}
_INTERACTIONS = {
    "Patient": ("read", "search-type"),
    "DocumentReference": ("read", "search-type"),
    "Binary": ("read",),
    "ImagingStudy": ("read", "search-type"),
    "Provenance": ("read", "search-type"),
    "Consent": ("read", "search-type", "create", "delete"),
    "AuditEvent": ("search-type",),
}


_OPERATIONS = {"Consent": [{"name": "explain", "definition": EXPLAIN_DEFINITION}]}


def _resource(kind: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": kind,
        "interaction": [{"code": code} for code in _INTERACTIONS[kind]],
    }
    if kind in _OPERATIONS:
        entry["operation"] = _OPERATIONS[kind]
    if _SEARCH[kind]:
        entry["searchParam"] = [{"name": n, "type": t} for n, t in _SEARCH[kind]]
    return entry


def capability(request: Request) -> dict[str, Any]:
    """Exactly what is implemented: read and search per type, their search parameters,
    SMART Backend Services as the security service."""
    token = str(request.base_url).rstrip("/") + smart.TOKEN_PATH
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-02",
        "kind": "instance",
        "software": {"name": "crossvault"},
        "implementation": {"description": "crossvault FHIR facade", "url": base_url(request)},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token}],
                        }
                    ],
                    "description": "SMART Backend Services; scopes: " + " ".join(SUPPORTED_SCOPES),
                },
                "resource": [_resource(kind) for kind in _INTERACTIONS],
            }
        ],
    }


@router.get(f"{FHIR_BASE}/metadata", include_in_schema=False)
def metadata(request: Request) -> Response:
    """The CapabilityStatement (no token needed)."""
    return fhir_response(capability(request))


# The FHIR interactions are described by the CapabilityStatement, not by OpenAPI: their
# answers are FHIR resources and OperationOutcomes, not the API's JSON and problems.
router.include_router(records.router)
router.include_router(imaging.router)
router.include_router(provenance.router)
router.include_router(person.router)
router.include_router(consent_writes.router)
router.include_router(explain.router)


@router.api_route(
    f"{FHIR_BASE}/{{rest:path}}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def not_implemented(rest: str) -> Response:
    raise unsupported(
        "unsupported_interaction",
        "This FHIR interaction or resource type is not implemented (see /fhir/r4/metadata).",
    )
