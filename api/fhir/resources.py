"""The vault's rows as FHIR R4 resources (``docs/fhir.md`` has the mapping).

Ids: a record is named with its person (``{person}.{record}``, or the two 32-hex ids
side by side: FHIR ids hold at most 64 characters), because every read of a record is a
read *of a person's* record, decided about that person — the server never looks a record
up to learn whose it is. Consents are ``sharing-``, ``cross-border-`` or ``radiology-``
then the vault's id.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

from policies.dates import HONG_KONG
from vault.account.pages import LoggedDecision
from vault.cross_border.authorisations import CrossBorderView
from vault.radiology.authorisations import RadiologyView
from vault.records.reading import RecordView
from vault.sharing.consents import SharingConsentView

SYSTEM = "https://crossvault.example/fhir"
CATEGORY_SYSTEM = f"{SYSTEM}/CodeSystem/record-category"
SOURCE_SYSTEM = f"{SYSTEM}/CodeSystem/record-source"
INSTITUTION_SYSTEM = f"{SYSTEM}/sid/institution"
PROFESSIONAL_SYSTEM = f"{SYSTEM}/sid/professional"
PERSON_SYSTEM = f"{SYSTEM}/sid/person"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
CONSENT_KINDS = ("sharing", "cross-border", "radiology")
TERM_SYSTEM = f"{SYSTEM}/CodeSystem/consent-term"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"


def consent_kind(resource_id: str) -> tuple[str, str]:
    """(kind, the vault's id) of a Consent's id; kind ``""`` if it names none."""
    for kind in CONSENT_KINDS:
        if resource_id.startswith(f"{kind}-"):
            return kind, resource_id[len(kind) + 1 :]
    return "", resource_id


def record_resource_id(person_id: str, record_id: str) -> str:
    if _HEX32.match(person_id) and _HEX32.match(record_id):
        return person_id + record_id
    return f"{person_id}.{record_id}"


def split_record_id(resource_id: str) -> tuple[str, str] | None:
    """(person, record) of a record's resource id; ``None`` if it is not one."""
    if "." in resource_id:
        person_id, _, record_id = resource_id.rpartition(".")
        return (person_id, record_id) if person_id and record_id else None
    if len(resource_id) == 64 and all(
        _HEX32.match(p) for p in (resource_id[:32], resource_id[32:])
    ):
        return resource_id[:32], resource_id[32:]
    return None


def instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def day_instant(day: date) -> str:
    """A clinical date as the instant FHIR's ``date`` elements need (midnight, HK)."""
    return datetime.combine(day, time(), tzinfo=HONG_KONG).isoformat()


def patient(person_id: str, profile: Any | None) -> dict[str, Any]:
    """The person; with their profile (owner, caregiver), their name, birth date and
    whether they have joined; without it (a professional), the id only."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person_id,
        "identifier": [{"system": PERSON_SYSTEM, "value": person_id}],
    }
    if profile is not None:
        resource["active"] = bool(profile.joined)
        resource["name"] = [{"text": profile.name}]
        resource["birthDate"] = profile.date_of_birth.isoformat()
    return resource


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def document_reference(person_id: str, view: RecordView) -> dict[str, Any]:
    r = view.record
    rid = record_resource_id(person_id, r.id)
    attachment: dict[str, Any] = {"contentType": r.content_type, "url": f"Binary/{rid}"}
    attachment["size"] = r.size
    meta: dict[str, Any] = {
        "lastUpdated": instant(r.created_at),
        "tag": [{"system": SOURCE_SYSTEM, "code": r.source}],
    }
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": rid,
        "meta": meta,
        "status": "current",
        "category": [_coding(CATEGORY_SYSTEM, r.category)],
        "subject": {"reference": f"Patient/{person_id}"},
        "date": day_instant(r.clinical_date),
        "content": [{"attachment": attachment}],
        "context": {"period": {"start": r.clinical_date.isoformat()}},
    }
    if view.title is not None:
        resource["description"] = view.title
        attachment["title"] = view.title
    else:  # the title failed its integrity check: said, not hidden
        meta["security"] = [{"system": f"{SYSTEM}/CodeSystem/integrity", "code": "damaged"}]
    if r.depositor_institution_id:
        resource["author"] = [
            {"identifier": {"system": INSTITUTION_SYSTEM, "value": r.depositor_institution_id}}
        ]
    return resource


def binary(person_id: str, record_id: str, content_type: str, data_b64: str) -> dict[str, Any]:
    return {
        "resourceType": "Binary",
        "id": record_resource_id(person_id, record_id),
        "contentType": content_type,
        "data": data_b64,
    }


def _consent(consent_id: str, person_id: str, institution_id: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": status,
        "scope": _coding(CONSENT_SCOPE, "patient-privacy"),
        "category": [_coding("http://loinc.org", "59284-0")],
        "patient": {"reference": f"Patient/{person_id}"},
        "performer": [{"reference": f"Patient/{person_id}"}],
        "organization": [{"identifier": {"system": INSTITUTION_SYSTEM, "value": institution_id}}],
        "policyRule": _coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN"),
    }


def _actor(institution_id: str) -> list[dict[str, Any]]:
    return [
        {
            "role": _coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP"),
            "reference": {"identifier": {"system": INSTITUTION_SYSTEM, "value": institution_id}},
        }
    ]


def _purpose(code: str) -> list[dict[str, Any]]:
    return [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": code}]


def _period(start: datetime, end: datetime | None) -> dict[str, str]:
    period = {"start": instant(start)}
    if end is not None:
        period["end"] = instant(end)
    return period


def sharing_consent(person_id: str, view: SharingConsentView) -> dict[str, Any]:
    c = view.consent
    status = "active" if view.active else "inactive"
    resource = _consent(f"sharing-{c.id}", person_id, c.institution_id, status)
    resource["dateTime"] = instant(c.granted_at)
    resource["policyRule"]["coding"].append({"system": TERM_SYSTEM, "code": c.kind})
    end = c.revoked_at or c.expires_at
    resource["provision"] = {
        "type": "permit",
        "period": _period(c.granted_at, end),
        "actor": _actor(c.institution_id),
        "purpose": _purpose("TREAT"),
        "class": [{"system": SOURCE_SYSTEM, "code": s} for s in view.scopes],
    }
    return resource


_CROSS_BORDER_STATUS = {"pending": "proposed", "active": "active", "locked": "inactive"}


def cross_border_consent(
    person_id: str, view: CrossBorderView, visible_since: date
) -> dict[str, Any]:
    """A cross-border authorisation; ``provision.dataPeriod`` is the lookback a session
    opened today would show (eHRs with clinical dates from ``visible_since`` on)."""
    a = view.authorisation
    status = _CROSS_BORDER_STATUS.get(view.status, "inactive")
    resource = _consent(f"cross-border-{a.id}", person_id, a.institution_id, status)
    resource["dateTime"] = instant(a.issued_at)
    resource["provision"] = {
        "type": "permit",
        "period": _period(a.usable_from, a.revoked_at or a.expires_at),
        "actor": _actor(a.institution_id),
        "purpose": _purpose("TREAT"),
        "class": [{"system": SOURCE_SYSTEM, "code": "ehr"}],
        "dataPeriod": {"start": visible_since.isoformat()},
    }
    return resource


def radiology_consent(person_id: str, view: RadiologyView) -> dict[str, Any]:
    a = view.authorisation
    status = "active" if view.status == "active" else "inactive"
    resource = _consent(f"radiology-{a.id}", person_id, a.institution_id, status)
    resource["dateTime"] = instant(a.issued_at)
    resource["provision"] = {
        "type": "permit",
        "period": _period(a.issued_at, a.revoked_at or a.used_at or a.expires_at),
        "actor": _actor(a.institution_id),
        "purpose": _purpose("TREAT"),
        "action": [_coding("http://terminology.hl7.org/CodeSystem/consentaction", "collect")],
        "class": [{"system": SOURCE_SYSTEM, "code": "personal_folder"}],
    }
    return resource


_ACTIONS = {"read_record": "R", "read_content": "R", "list_records": "E"}


def audit_event(person_id: str, e: LoggedDecision) -> dict[str, Any]:
    """One access-log entry, shaped after IHE BALP: a read is ``PatientRead``, a list
    ``PatientQuery``; the outcome says allowed (``0``) or refused (``4``) and why."""
    query = e.action == "list_records"
    subtype = "search" if query else "read"
    agent: dict[str, Any] = {
        "who": {"identifier": {"system": f"{SYSTEM}/sid/{e.actor_kind}", "value": e.actor_id}},
        "requestor": True,
    }
    agents = [agent]
    if e.institution_id:
        agents.append(
            {
                "who": {"identifier": {"system": INSTITUTION_SYSTEM, "value": e.institution_id}},
                "requestor": False,
            }
        )
    entity: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{person_id}"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
            },
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
        }
    ]
    if e.resource_id:
        entity.append({"what": {"identifier": {"value": e.resource_id}}, "name": e.action})
    return {
        "resourceType": "AuditEvent",
        "id": f"{person_id}.{e.seq}",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
        },
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": subtype},
            {"system": f"{SYSTEM}/CodeSystem/action", "code": e.action},
        ],
        "action": _ACTIONS.get(e.action, "E"),
        "recorded": instant(e.at),
        "outcome": "0" if e.allowed else "4",
        "outcomeDesc": e.reason,
        "agent": agents,
        "source": {"observer": {"display": "crossvault"}},
        "entity": entity,
    }
