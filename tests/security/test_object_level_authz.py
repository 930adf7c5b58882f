"""Object-level authorisation (issue 8, item 3; R7, R9, R10).

One person, A, owns one resource of every kind: eHRs of several categories (one outside
the cross-border lookback), a Personal Folder document, a radiology study and report
deposited by a designated depositor, sharing consents (in force and revoked),
cross-border authorisations (one with an open viewing session) and their QR codes,
radiology authorisations (one used, one with an open deposit and a resumable upload in
progress), caregivers (in force and revoked), a pending restricted-access request,
notifications and access-log entries.

Every other kind of caller then asks for each of A's ids through every route of the app
that takes an id — the table :data:`ROUTES` must name every such route of
``/openapi.json``, so a new one cannot be forgotten — both with A's ids alone and
combined with ids of their own (their own viewing session, patient, deposit, request).
Each answer must be byte for byte the answer for a random id of the same shape (status,
headers but the request id and date, body): the canonical 404, or — where the role
cannot use the route at all — the documented 403, which then does not depend on whether
the id exists either. No answer to anyone else holds any of A's ids, names, titles or
contents; lists hold none of A's items and no counts. Afterwards nothing of A's has
changed (the attempts included ``DELETE``, ``PATCH``, renewals, confirmations, uploads
and completions), A's restricted-access request is still confirmable and the audit
chain verifies.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from sim.studies import Study, instance
from tests.api.conftest import World, module_world
from tests.support.databases import DatabaseKind


class Kind(StrEnum):
    """What a path parameter (or header) names."""

    PERSON = "person"
    RECORD = "record"
    CONSENT = "sharing_consent"
    CROSS_BORDER = "cross_border_authorisation"
    RADIOLOGY = "radiology_authorisation"
    DELEGATION = "delegation"
    RESTRICTED = "restricted_access_request"
    SESSION = "viewing_session"
    DEPOSIT = "radiology_deposit"
    UPLOAD = "upload"
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"
    INSTITUTION = "institution"  # the public registry: nobody's own
    PROFESSIONAL = "professional"  # an institution's staff and credentials: nobody's own
    CLIENT = "client_id"
    PROPOSAL = "credential_proposal"
    BREAK_GLASS = "break_glass_access"  # none exist under the default policy
    # selectors: not ids, the same value in both requests of a comparison
    QR = "qr_kind"
    FILE_NAME = "file_name"


SELECTORS = {Kind.QR, Kind.FILE_NAME}
REGISTRY = {Kind.INSTITUTION, Kind.PROFESSIONAL, Kind.CLIENT, Kind.PROPOSAL, Kind.BREAK_GLASS}
UIDS = {Kind.STUDY, Kind.SERIES, Kind.INSTANCE}

DEPOSIT_HEADER = "X-Radiology-Deposit"
TUS = {"Tus-Resumable": "1.0.0"}
SECRET = "ALPHA-SECRET"  # in every content and title of A's
DICOM_NAME = "OWNER^ALPHA"
A_NAME = "Alpha Owner"


Body = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """How to call one operation: its path parameters (and id-carrying headers) and a
    well-formed body, so that a refusal is about the ids, never about the request."""

    params: dict[str, Kind]
    headers: dict[str, Kind] = field(default_factory=dict)
    body: Callable[[dict[str, str]], Body] | None = None
    mixed: bool = True  # also combine A's ids with the caller's own
    public: bool = False  # the same answer for everyone (and without a token)
    note: str = ""


def _json(payload: Any) -> Callable[[dict[str, str]], Body]:
    return lambda _values: {"json": payload}


def _file(values: dict[str, str]) -> Body:
    return {"content": b"Impression: normal.", "headers": {"Content-Type": "text/plain"}}


def _tus_create(values: dict[str, str]) -> Body:
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("filename", "intruder.txt"), ("content_type", "text/plain"))
    )
    return {"headers": {**TUS, "Upload-Length": "32", "Upload-Metadata": meta}}


def _tus_patch(values: dict[str, str]) -> Body:
    return {
        "content": b"intruder",
        "headers": {
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    }


def _stow(values: dict[str, str]) -> Body:
    """One instance of the study named in the path (the caller knows A's study UID)."""
    part = instance(Study(patient_name="INTRUDER^X", study_instance_uid=values["study"]))
    boundary = "intruder-boundary-0123456789"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + part
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return {"content": body, "headers": {"Content-Type": content_type}}


RECORD_BODY = {
    "category": "lab_report",
    "clinical_date": "2026-02-01",
    "title": "intruder",
    "content": "intruder",
    "content_type": "text/plain",
}
RESTRICTED_BODY = {
    "reason": "Pre-operative review of the radiology report.",
    "categories": ["radiology_report"],
}

ME = "/v1/me"
CONSENT_ID = {"consent_id": Kind.CONSENT}
CROSS_BORDER_ID = {"authorisation_id": Kind.CROSS_BORDER}
RADIOLOGY_ID = {"authorisation_id": Kind.RADIOLOGY}
PATIENT = {"pid": Kind.PERSON}
PATIENT_RECORD = {"pid": Kind.PERSON, "record_id": Kind.RECORD}
SESSION = {"sid": Kind.SESSION}
SESSION_RECORD = {"sid": Kind.SESSION, "record_id": Kind.RECORD}
DEPOSIT = {"deposit_id": Kind.DEPOSIT}
UPLOAD = {"deposit_id": Kind.DEPOSIT, "upload_id": Kind.UPLOAD}
STUDY = {"study": Kind.STUDY}
SERIES = {"study": Kind.STUDY, "series": Kind.SERIES}
INSTANCE = {"study": Kind.STUDY, "series": Kind.SERIES, "instance": Kind.INSTANCE}
INSTITUTION = {"iid": Kind.INSTITUTION}
# A well-formed public P-384 key, so that a SMART registration is refused for its ids only.
SMART_KEY = {
    "kty": "EC",
    "crv": "P-384",
    "kid": "intruder-1",
    "x": "btMx84dbKk-CN_m3uJt1yakrs7p2TivENdopTOtJmxkGMk9Fm4NJbBOPn_s-xzAJ",
    "y": "ClaUV-ZiNTDpLmNa9waHW0UyHZyZcvkP9_wloImZhbQ3aQjIyA5XfhjNaLzPhbJs",
}
PROPOSAL = {"proposal_id": Kind.PROPOSAL}

# Every operation with a path parameter. test_the_table_names_every_route_with_an_id
# fails when /openapi.json has one this table does not name (or the other way round).
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", f"{ME}/sharing-consents/{{consent_id}}"): Route(CONSENT_ID),
    ("PATCH", f"{ME}/sharing-consents/{{consent_id}}"): Route(
        CONSENT_ID, body=_json({"kind": "one_year"})
    ),
    ("DELETE", f"{ME}/sharing-consents/{{consent_id}}"): Route(CONSENT_ID),
    ("POST", f"{ME}/sharing-consents/{{consent_id}}/renew"): Route(CONSENT_ID),
    ("GET", f"{ME}/cross-border-authorisations/{{authorisation_id}}"): Route(CROSS_BORDER_ID),
    ("DELETE", f"{ME}/cross-border-authorisations/{{authorisation_id}}"): Route(CROSS_BORDER_ID),
    ("GET", f"{ME}/cross-border-authorisations/{{authorisation_id}}/qr/{{which}}"): Route(
        {"authorisation_id": Kind.CROSS_BORDER, "which": Kind.QR}
    ),
    ("GET", f"{ME}/radiology-authorisations/{{authorisation_id}}"): Route(RADIOLOGY_ID),
    ("DELETE", f"{ME}/radiology-authorisations/{{authorisation_id}}"): Route(RADIOLOGY_ID),
    ("GET", f"{ME}/radiology-authorisations/{{authorisation_id}}/qr"): Route(RADIOLOGY_ID),
    ("GET", f"{ME}/caregivers/{{delegation_id}}"): Route({"delegation_id": Kind.DELEGATION}),
    ("DELETE", f"{ME}/caregivers/{{delegation_id}}"): Route({"delegation_id": Kind.DELEGATION}),
    ("GET", f"{ME}/records/{{record_id}}"): Route({"record_id": Kind.RECORD}),
    ("GET", f"{ME}/records/{{record_id}}/content"): Route({"record_id": Kind.RECORD}),
    ("POST", "/v1/patients/{pid}/records"): Route(
        PATIENT,
        body=_json(RECORD_BODY),
        note="Hong Kong providers may deposit for anyone who joined (not tried by them)",
    ),
    ("GET", "/v1/patients/{pid}/records"): Route(PATIENT),
    ("GET", "/v1/patients/{pid}/records/{record_id}"): Route(PATIENT_RECORD),
    ("GET", "/v1/patients/{pid}/records/{record_id}/content"): Route(PATIENT_RECORD),
    ("POST", "/v1/patients/{pid}/restricted-access"): Route(PATIENT, body=_json(RESTRICTED_BODY)),
    ("POST", "/v1/patients/{pid}/break-glass"): Route(
        PATIENT,
        body=_json({"justification": "Unresponsive in A&E, history needed now, no consent."}),
        note="disabled by the default policy: the same refusal for every person",
    ),
    ("POST", "/v1/admin/break-glass/{access_id}/review"): Route(
        {"access_id": Kind.BREAK_GLASS}, note="operators only"
    ),
    ("POST", "/v1/patients/{pid}/restricted-access/{rid}/confirm"): Route(
        {"pid": Kind.PERSON, "rid": Kind.RESTRICTED}, body=_json({"otp": "000000"})
    ),
    ("GET", "/v1/cross-border/sessions/{sid}/records"): Route(SESSION),
    ("GET", "/v1/cross-border/sessions/{sid}/records/{record_id}"): Route(SESSION_RECORD),
    ("GET", "/v1/cross-border/sessions/{sid}/records/{record_id}/content"): Route(SESSION_RECORD),
    ("GET", "/v1/radiology/deposits/{deposit_id}"): Route(DEPOSIT),
    ("PUT", "/v1/radiology/deposits/{deposit_id}/files/{name}"): Route(
        {"deposit_id": Kind.DEPOSIT, "name": Kind.FILE_NAME}, body=_file
    ),
    ("POST", "/v1/radiology/deposits/{deposit_id}/complete"): Route(DEPOSIT),
    ("OPTIONS", "/v1/radiology/deposits/{deposit_id}/uploads"): Route(
        DEPOSIT, note="tus discovery: no token, the same answer for any id"
    ),
    ("POST", "/v1/radiology/deposits/{deposit_id}/uploads"): Route(DEPOSIT, body=_tus_create),
    ("HEAD", "/v1/radiology/deposits/{deposit_id}/uploads/{upload_id}"): Route(
        UPLOAD, body=lambda _values: {"headers": TUS}
    ),
    ("PATCH", "/v1/radiology/deposits/{deposit_id}/uploads/{upload_id}"): Route(
        UPLOAD, body=_tus_patch
    ),
    ("POST", "/dicomweb/studies/{study}"): Route(
        STUDY,
        headers={DEPOSIT_HEADER: Kind.DEPOSIT},
        body=_stow,
        mixed=False,  # with its own deposit a depositor stores into its own deposit
    ),
    ("GET", "/dicomweb/studies/{study}"): Route(STUDY),
    ("GET", "/dicomweb/studies/{study}/series/{series}"): Route(SERIES),
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances/{instance}"): Route(INSTANCE),
    ("GET", "/dicomweb/patients/{pid}/studies/{study}"): Route({**PATIENT, **STUDY}),
    ("GET", "/dicomweb/patients/{pid}/studies/{study}/series/{series}"): Route(
        {**PATIENT, **SERIES}
    ),
    ("GET", "/dicomweb/patients/{pid}/studies/{study}/series/{series}/instances/{instance}"): Route(
        {**PATIENT, **INSTANCE}
    ),
    # QIDO-RS and WADO-RS metadata (issue 17)
    ("GET", "/dicomweb/studies/{study}/series"): Route(STUDY),
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances"): Route(SERIES),
    ("GET", "/dicomweb/studies/{study}/metadata"): Route(STUDY),
    ("GET", "/dicomweb/studies/{study}/series/{series}/metadata"): Route(SERIES),
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances/{instance}/metadata"): Route(
        INSTANCE
    ),
    ("GET", "/dicomweb/patients/{pid}/studies"): Route(PATIENT),
    ("GET", "/dicomweb/patients/{pid}/studies/{study}/series"): Route({**PATIENT, **STUDY}),
    ("GET", "/dicomweb/patients/{pid}/studies/{study}/series/{series}/instances"): Route(
        {**PATIENT, **SERIES}
    ),
    ("GET", "/dicomweb/patients/{pid}/studies/{study}/metadata"): Route({**PATIENT, **STUDY}),
    ("GET", "/dicomweb/patients/{pid}/studies/{study}/series/{series}/metadata"): Route(
        {**PATIENT, **SERIES}
    ),
    (
        "GET",
        "/dicomweb/patients/{pid}/studies/{study}/series/{series}/instances/{instance}/metadata",
    ): Route({**PATIENT, **INSTANCE}),
    ("GET", "/v1/institutions/{iid}"): Route(INSTITUTION, public=True, note="the registry"),
    ("POST", "/v1/institutions/{iid}/credentials"): Route(
        INSTITUTION, note="the institution's admin only; the registry is public"
    ),
    ("DELETE", "/v1/institutions/{iid}/credentials/{client_id}"): Route(
        {**INSTITUTION, "client_id": Kind.CLIENT}, note="the institution's admin only"
    ),
    ("POST", "/v1/institutions/{iid}/professionals"): Route(
        INSTITUTION,
        body=_json({"name": "Dr Intruder", "profession": "doctor"}),
        note="the institution's admin only; the registry is public",
    ),
    ("DELETE", "/v1/institutions/{iid}/professionals/{pid}"): Route(
        {**INSTITUTION, "pid": Kind.PROFESSIONAL}, note="the institution's admin only"
    ),
    ("POST", "/v1/institutions/{iid}/smart-clients"): Route(
        INSTITUTION, body=_json({"jwks": {"keys": [SMART_KEY]}}), note="the admin only"
    ),
    ("DELETE", "/v1/institutions/{iid}/smart-clients/{client_id}"): Route(
        {**INSTITUTION, "client_id": Kind.CLIENT}, note="the institution's admin only"
    ),
    ("POST", "/v1/admin/institutions/{iid}/admin-credential-proposals"): Route(
        INSTITUTION, note="operators only"
    ),
    ("POST", "/v1/admin/credential-proposals/{proposal_id}/approve"): Route(
        PROPOSAL, note="operators only"
    ),
    ("POST", "/v1/admin/credential-proposals/{proposal_id}/withdraw"): Route(
        PROPOSAL, note="operators only"
    ),
}

# The per-caller lists (no path parameter): none may hold anything of A's.
LISTS = [
    ME,
    f"{ME}/records",
    f"{ME}/sharing-consents",
    f"{ME}/cross-border-authorisations",
    f"{ME}/radiology-authorisations",
    f"{ME}/caregivers",
    f"{ME}/access-log",
    f"{ME}/notifications",
    "/dicomweb/studies",  # QIDO-RS: the person's own studies (a JSON array)
]
# GET operations without a path parameter that are about nobody in particular.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/jwks.json",
    "/.well-known/smart-configuration",  # SMART discovery: endpoints and capabilities
    "/v1/institutions",
    "/v1/audit/checkpoints",  # signed roots over hashes: no person ids, no entries
    "/v1/audit/checkpoints/latest",
    "/v1/admin/audit/verify",
    "/v1/admin/credential-proposals",  # the operators' pending proposals
    "/v1/admin/break-glass",  # the operators' review list (empty: the default policy)
}

# The answers a caller may get for someone else's id: the canonical 404, or a refusal
# for the role that is decided before any id is looked at.
Answer = tuple[int, str | None]  # (status, problem code)
HIDDEN: Answer = (404, "not_found")
WRONG_ROLE: Answer = (403, "wrong_role")
NO_DELEGATION: Answer = (403, "caregiver_cannot_delegate")
REFUSALS: set[Answer] = {HIDDEN, WRONG_ROLE, NO_DELEGATION}
NOT_HK_DEPOSITOR: Answer = (403, "forbidden")  # only HK providers deposit eHRs
TUS_DISCOVERY: Answer = (204, None)
BREAK_GLASS_DISABLED: Answer = (403, "break_glass_disabled")  # the default policy
NOT_THEIR_INSTITUTION: Answer = (403, "forbidden")  # an admin managing another institution

VOLATILE_HEADERS = {"date", "x-request-id", "server"}


# -- the server and A's estate ----------------------------------------------------------------


@dataclass
class Caller:
    """One kind of caller who is not A: token headers and the ids they own."""

    kind: str
    headers: dict[str, str]
    own: dict[Kind, str] = field(default_factory=dict)
    hong_kong_provider: bool = False
    operator: bool = False
    admin: bool = False  # an institution's admin client (manages its own, reads nobody's)


@dataclass
class Estate:
    world: World
    person: str
    headers: dict[str, str]
    ids: dict[Kind, list[str]]
    markers: list[str]
    callers: list[Caller]
    legit: dict[str, dict[str, str]]  # A's own professionals, by role
    otp: str
    before: dict[str, Any] = field(default_factory=dict)
    notices: dict[str, str | None] = field(default_factory=dict)

    @property
    def http(self) -> httpx.Client:
        return self.world.http


def _created(response: httpx.Response, key: str = "id") -> str:
    assert response.status_code in (200, 201), response.text
    value: str = response.json()[key]
    return value


def _consent(world: World, me: dict[str, str], iid: str, kind: str = "indefinite") -> str:
    return _created(
        world.http.post(
            f"{ME}/sharing-consents",
            headers=me,
            json={"institution_id": iid, "kind": kind, "scopes": ["ehr", "personal_folder"]},
        )
    )


def _cross_border(world: World, me: dict[str, str], iid: str) -> dict[str, str]:
    r = world.http.post(
        f"{ME}/cross-border-authorisations", headers=me, json={"institution_id": iid}
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


def _session(world: World, doctor: dict[str, str], codes: dict[str, str]) -> str:
    pair = {k: codes[k] for k in ("application_code", "passcode")}
    return _created(
        world.http.post("/v1/cross-border/sessions", headers=doctor, json=pair), "session_id"
    )


def _radiology(world: World, me: dict[str, str], iid: str) -> tuple[str, str]:
    r = world.http.post(f"{ME}/radiology-authorisations", headers=me, json={"institution_id": iid})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["authorisation_code"]


def _deposit(world: World, depositor: dict[str, str], code: str) -> str:
    r = world.http.post(
        "/v1/radiology/deposits", headers=depositor, json={"authorisation_code": code}
    )
    return _created(r, "deposit_id")


def _upload(world: World, depositor: dict[str, str], deposit_id: str, name: str) -> str:
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (("filename", name), ("content_type", "text/plain"))
    )
    r = world.http.post(
        f"/v1/radiology/deposits/{deposit_id}/uploads",
        headers={**depositor, **TUS, "Upload-Length": "64", "Upload-Metadata": meta},
    )
    assert r.status_code == 201, r.text
    return r.headers["location"].rsplit("/", 1)[-1]


def _ehr(world: World, pid: str, headers: dict[str, str], category: str, day: str) -> str:
    body = {
        "category": category,
        "clinical_date": day,
        "title": f"{SECRET} {category} title",
        "content": f"{SECRET} {category} of Alpha",
        "content_type": "text/plain",
    }
    return _created(world.http.post(f"/v1/patients/{pid}/records", headers=headers, json=body))


def _caregiver(world: World, me: dict[str, str], caregiver: str) -> str:
    return _created(
        world.http.post(f"{ME}/caregivers", headers=me, json={"caregiver_id": caregiver})
    )


def _otp(world: World, me: dict[str, str]) -> str:
    r = world.http.get(f"{ME}/notifications", headers=me, params={"limit": 200})
    sent = [n for n in r.json()["items"] if n["event"] == "restricted_access_otp"]
    otp: str = sent[0]["detail"]
    return otp


def _build(world: World) -> Estate:
    http = world.http
    a, me = world.person(name=A_NAME)
    ids: dict[Kind, list[str]] = {kind: [] for kind in Kind}
    ids[Kind.PERSON].append(a)

    # eHRs of several categories (one outside the three-year lookback), and the folder
    ha = world.professional("ha")
    for category, day in (
        ("lab_report", "2025-06-01"),
        ("clinical_note", "2025-01-15"),
        ("medication", "2024-11-30"),
        ("allergy", "2024-02-29"),
        ("radiology_report", "2025-09-09"),
        ("encounter", "2021-05-05"),
    ):
        ids[Kind.RECORD].append(_ehr(world, a, ha, category, day))
    folder = http.post(
        f"{ME}/folder",
        headers=me,
        json={
            "category": "document",
            "clinical_date": "2025-12-12",
            "title": f"{SECRET} discharge summary (Shenzhen)",
            "content": f"{SECRET} folder document",
            "content_type": "text/plain",
        },
    )
    ids[Kind.RECORD].append(_created(folder))

    # sharing consents: one in force (hksh), one revoked
    ids[Kind.CONSENT].append(_consent(world, me, "hksh"))
    revoked = _consent(world, me, "harbourview_clinics", "one_year")
    assert http.delete(f"{ME}/sharing-consents/{revoked}", headers=me).status_code == 204
    ids[Kind.CONSENT].append(revoked)

    # cross-border: one with a viewing session (hku_sz), one unused (Clifford)
    viewer = world.professional("hku_sz")
    codes = _cross_border(world, me, "hku_sz")
    ids[Kind.CROSS_BORDER] += [codes["id"], _cross_border(world, me, "guangdong_clifford")["id"]]
    sid = _session(world, viewer, codes)
    ids[Kind.SESSION].append(sid)
    views = http.get(
        f"/v1/cross-border/sessions/{sid}/records/{ids[Kind.RECORD][0]}/content", headers=viewer
    )
    assert views.status_code == 200 and SECRET in views.text

    # radiology: a completed deposit (study + report), an open one with an upload underway
    depositor = world.professional("zhongshan_chen_xinghai", profession="radiographer")
    used, used_code = _radiology(world, me, "zhongshan_chen_xinghai")
    open_, open_code = _radiology(world, me, "zhongshan_chen_xinghai")
    ids[Kind.RADIOLOGY] += [used, open_]
    done = _deposit(world, depositor, used_code)
    study = Study(patient_name=DICOM_NAME, patient_id="MRN-ALPHA")
    files = {
        "study.dcm": (instance(study), "application/dicom"),
        "report.txt": (f"{SECRET} radiology report".encode(), "text/plain"),
    }
    for name, (content, media_type) in files.items():
        put = http.put(
            f"/v1/radiology/deposits/{done}/files/{name}",
            headers={**depositor, "Content-Type": media_type},
            content=content,
        )
        assert put.status_code == 201, put.text
    assert http.post(f"/v1/radiology/deposits/{done}/complete", headers=depositor).is_success
    pending = _deposit(world, depositor, open_code)
    ids[Kind.DEPOSIT] += [done, pending]
    ids[Kind.UPLOAD].append(_upload(world, depositor, pending, "partial.txt"))
    listed = http.get(f"{ME}/records", headers=me, params={"limit": 200}).json()["items"]
    known = set(ids[Kind.RECORD])
    ids[Kind.RECORD] += [r["id"] for r in listed if r["id"] not in known]
    assert len(ids[Kind.RECORD]) == 9, listed
    ids[Kind.STUDY].append(study.study_instance_uid)
    ids[Kind.SERIES].append(study.series_instance_uid)
    wado = http.get(f"/dicomweb/studies/{study.study_instance_uid}", headers=me)
    assert wado.status_code == 200
    ids[Kind.INSTANCE].append(_sop_instance_uid(files["study.dcm"][0]))

    # caregivers: one in force, one revoked
    g, _ = world.person(name="Golf Carer")
    g2, _ = world.person(name="Hotel Former Carer")
    ids[Kind.DELEGATION].append(_caregiver(world, me, g))
    former = _caregiver(world, me, g2)
    assert http.delete(f"{ME}/caregivers/{former}", headers=me).status_code == 204
    ids[Kind.DELEGATION].append(former)

    # a pending restricted-access request by an hksh nurse; hksh's doctor reads records
    nurse = world.professional("hksh", profession="nurse")
    requested = http.post(
        f"/v1/patients/{a}/restricted-access", headers=nurse, json=RESTRICTED_BODY
    )
    ids[Kind.RESTRICTED].append(_created(requested))
    hksh = world.professional("hksh")
    assert http.get(f"/v1/patients/{a}/records", headers=hksh).status_code == 200
    log = http.get(f"{ME}/access-log", headers=me).json()["items"]
    notices = http.get(f"{ME}/notifications", headers=me).json()["items"]
    assert log and notices

    ids[Kind.INSTITUTION].append("ha")
    ids[Kind.PROFESSIONAL].append(_subject(hksh))
    ids[Kind.CLIENT].append(world.registry.client("ha")[0])
    ids[Kind.PROPOSAL].append(_proposal(world, "dental_bauhinia"))
    ids[Kind.BREAK_GLASS].append(uuid.uuid4().hex)
    ids[Kind.QR] += ["application", "passcode"]
    ids[Kind.FILE_NAME] += ["report.txt", "fresh.txt"]

    callers = _others(world, a)
    markers = [a, A_NAME, DICOM_NAME, "MRN-ALPHA", SECRET]
    markers += [
        v for kind, values in ids.items() if kind not in SELECTORS | REGISTRY for v in values
    ]
    return Estate(
        world,
        a,
        me,
        ids,
        markers,
        callers,
        {"viewer": viewer, "depositor": depositor, "nurse": nurse, "hksh": hksh},
        _otp(world, me),
    )


def _proposal(world: World, iid: str) -> str:
    """A pending proposal of an admin credential for ``iid`` (by the first operator)."""
    r = world.http.post(
        f"/v1/admin/institutions/{iid}/admin-credential-proposals", headers=world.operator
    )
    return _created(r)


def _sop_instance_uid(part10: bytes) -> str:
    uid: str = dcmread(io.BytesIO(part10)).SOPInstanceUID
    return uid


def _others(world: World, a: str) -> list[Caller]:
    """Every kind of caller who is not A (nor A's caregiver, nor a professional A let in),
    each with resources of their own about another person, B."""
    http = world.http
    b, b_headers = world.person(name="Bravo Other")
    c, c_headers = world.person(name="Charlie Cared")
    _caregiver(world, c_headers, b)
    world.deposit(b, world.professional("ha"), content="bravo's own record")

    _consent(world, b_headers, "hk_baptist")
    hk_other = world.professional("hk_baptist", profession="nurse")
    rid_b = _created(
        http.post(f"/v1/patients/{b}/restricted-access", headers=hk_other, json=RESTRICTED_BODY)
    )
    mainland = world.professional("sysu_first_affiliated")
    sid_b = _session(world, mainland, _cross_border(world, b_headers, "sysu_first_affiliated"))
    depositor = world.professional("shenzhen_new_frontier_united_family", profession="radiographer")
    _, code = _radiology(world, b_headers, "shenzhen_new_frontier_united_family")
    deposit_b = _deposit(world, depositor, code)
    upload_b = _upload(world, depositor, deposit_b, "bravo.txt")
    return [
        Caller("citizen", b_headers),
        Caller("caregiver_of_someone_else", {**b_headers, "On-Behalf-Of": c}),
        Caller("caregiver_without_delegation", {**b_headers, "On-Behalf-Of": a}),
        Caller(
            "hk_provider_without_consent", world.professional("matilda"), hong_kong_provider=True
        ),
        Caller(
            "hk_provider_of_another_institution",
            hk_other,
            {Kind.PERSON: b, Kind.RESTRICTED: rid_b},
            hong_kong_provider=True,
        ),
        Caller("mainland_with_own_session", mainland, {Kind.SESSION: sid_b}),
        Caller("mainland_colleague_of_the_viewer", world.professional("hku_sz")),
        Caller("mainland_of_another_institution", world.professional("dongguan_tungwah")),
        Caller(
            "radiology_depositor",
            depositor,
            {Kind.DEPOSIT: deposit_b, Kind.UPLOAD: upload_b},
        ),
        Caller("operator", world.operator, operator=True),
        Caller("admin_of_another_institution", world.admin("hksh"), admin=True),
    ]


def _notifications(estate: Estate) -> dict[str, str | None]:
    """A's notifications: id -> who caused it."""
    r = estate.http.get(f"{ME}/notifications", headers=estate.headers, params={"limit": 200})
    assert r.status_code == 200 and r.json()["next_cursor"] is None, r.text
    return {n["id"]: n["actor_id"] for n in r.json()["items"]}


def _subject(headers: dict[str, str]) -> str:
    """The ``sub`` of a bearer token (read, not verified: the server did that)."""
    payload = headers["Authorization"].split()[1].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    subject: str = claims["sub"]
    return subject


def _snapshot(estate: Estate) -> dict[str, Any]:
    """Everything of A's, as A and A's own professionals see it."""
    http, me = estate.http, estate.headers
    shot: dict[str, Any] = {}
    for path in LISTS[:6]:
        r = http.get(path, headers=me, params={"limit": 200} if path.endswith("records") else None)
        assert r.status_code == 200, r.text
        shot[path] = r.json()
    depositor = estate.legit["depositor"]
    for deposit in estate.ids[Kind.DEPOSIT]:
        r = http.get(f"/v1/radiology/deposits/{deposit}", headers=depositor)
        assert r.status_code == 200, r.text
        shot[deposit] = r.json()
    upload = estate.ids[Kind.UPLOAD][0]
    pending = estate.ids[Kind.DEPOSIT][1]
    head = http.head(
        f"/v1/radiology/deposits/{pending}/uploads/{upload}", headers={**depositor, **TUS}
    )
    assert head.status_code == 200
    shot["upload"] = (head.headers["upload-offset"], head.headers["upload-length"])
    session = http.get(
        f"/v1/cross-border/sessions/{estate.ids[Kind.SESSION][0]}/records",
        headers=estate.legit["viewer"],
    )
    assert session.status_code == 200
    shot["session"] = session.json()
    return shot


@pytest.fixture(scope="module")
def estate(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Estate]:
    """One server and database for the module: A's estate and everyone else."""
    base: Path = tmp_path_factory.mktemp("object-level")
    with module_world(request, db_kind, base, "object_level") as (world, _, _):
        built = _build(world)
        built.before = _snapshot(built)
        built.notices = _notifications(built)
        yield built


# -- asking ---------------------------------------------------------------------------------------


def _random(kind: Kind, like: str) -> str:
    if kind in SELECTORS:
        return like
    if kind in UIDS:
        return str(generate_uid())
    if kind is Kind.INSTITUTION:
        return "no_such_institution"
    return uuid.uuid4().hex


def _fingerprint(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in VOLATILE_HEADERS
    )
    return response.status_code, headers, response.content


def _answer(response: httpx.Response) -> Answer:
    """(status, problem code); a HEAD answer has no body to carry the code."""
    if response.request.method == "HEAD":
        return response.status_code, None
    if "problem+json" in response.headers.get("content-type", ""):
        code: str = response.json()["code"]
        return response.status_code, code
    return response.status_code, None


def _call(
    estate: Estate, caller: Caller, endpoint: tuple[str, str, Route], values: dict[str, str]
) -> httpx.Response:
    method, path, route = endpoint
    url = path.format(**{p: values[p] for p in route.params})
    extra = route.body(values) if route.body else {}
    headers = {**caller.headers, **extra.pop("headers", {})}
    headers.update({h: values[h] for h in route.headers})
    return estate.http.request(method, url, headers=headers, **extra)


def _leaks(estate: Estate, response: httpx.Response) -> list[str]:
    """A's markers found anywhere in an answer to someone else."""
    seen = response.content + repr(sorted(response.headers.items())).encode()
    return [m for m in estate.markers if m.encode() in seen]


def _cases(
    estate: Estate, caller: Caller, route: Route
) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """(label, values with A's ids, the same with random ids of the same shape). Besides
    A's ids alone, the caller's own ids (their patient, session, deposit, request) are
    put in for every proper subset of the parameters, with A's ids in the others."""
    names = {**route.params, **route.headers}
    mine = [p for p, k in names.items() if k in caller.own] if route.mixed else []
    subsets = [
        set(chosen)
        for size in range(len(mine) + 1)
        for chosen in itertools.combinations(mine, size)
        if any(p not in chosen and k not in SELECTORS for p, k in names.items())
    ]
    seen: set[tuple[str, ...]] = set()
    for combo in itertools.product(*(estate.ids[kind] for kind in names.values())):
        ours = dict(zip(names, combo, strict=True))
        for own in subsets:
            label = f"own {sorted(own)} + A's" if own else "A's ids"
            values = {p: caller.own[names[p]] if p in own else v for p, v in ours.items()}
            if tuple(values.values()) in seen:
                continue
            seen.add(tuple(values.values()))
            fresh = {p: v if p in own else _random(names[p], v) for p, v in values.items()}
            yield label, values, fresh


def _expected(caller: Caller, method: str, path: str) -> set[Answer] | None:
    """What the caller may be answered, or None if the cell is not tried (with why)."""
    if path.startswith("/v1/institutions/"):  # the institution's own admin's duties
        return {NOT_THEIR_INSTITUTION} if caller.admin else {WRONG_ROLE}
    if path.startswith("/v1/admin/"):
        return None if caller.operator else {WRONG_ROLE}  # the operators' own duties
    if method == "OPTIONS":
        return {TUS_DISCOVERY}
    if method == "HEAD":
        return {(status, None) for status, _ in REFUSALS}
    if (method, path) == ("POST", "/v1/patients/{pid}/break-glass"):
        return REFUSALS | {BREAK_GLASS_DISABLED}
    if (method, path) == ("POST", "/v1/patients/{pid}/records"):
        if caller.hong_kong_provider:
            return None  # any HK provider may deposit for a person who joined (R3, 2025-12-01)
        return {NOT_HK_DEPOSITOR, WRONG_ROLE}
    return REFUSALS


@pytest.mark.parametrize(("method", "path"), list(ROUTES), ids=[f"{m} {p}" for m, p in ROUTES])
def test_someone_elses_ids_answer_like_ids_that_do_not_exist(
    estate: Estate, method: str, path: str
) -> None:
    route = ROUTES[(method, path)]
    if route.public:
        _same_for_everyone(estate, (method, path, route))
        return
    problems: list[str] = []
    tried = 0
    for caller in estate.callers:
        allowed = _expected(caller, method, path)
        if allowed is None:
            continue
        for label, ours, fresh in _cases(estate, caller, route):
            theirs = _call(estate, caller, (method, path, route), ours)
            missing = _call(estate, caller, (method, path, route), fresh)
            tried += 1
            where = f"{caller.kind} ({label}: {ours})"
            if _answer(theirs) not in allowed:
                problems.append(f"{where}: {theirs.status_code} {theirs.text[:200]}")
            if _fingerprint(theirs) != _fingerprint(missing):
                problems.append(
                    f"{where}: differs from a missing id: {_fingerprint(theirs)!r:.300} "
                    f"vs {_fingerprint(missing)!r:.300}"
                )
            for response in (theirs, missing):
                if leaked := _leaks(estate, response):
                    problems.append(f"{where}: leaks {leaked}")
    assert tried, "no caller tried this route"
    assert not problems, "\n".join(problems)


def _same_for_everyone(estate: Estate, endpoint: tuple[str, str, Route]) -> None:
    """A public route answers every caller, and nobody, byte for byte alike."""
    _, _, route = endpoint
    values = {p: estate.ids[kind][0] for p, kind in route.params.items()}
    callers = [*estate.callers, Caller("nobody", {})]
    answers = {c.kind: _fingerprint(_call(estate, c, endpoint, values)) for c in callers}
    assert {status for status, _, _ in answers.values()} == {200}, answers
    assert len({repr(answer) for answer in answers.values()}) == 1, answers


def test_the_table_names_every_route_with_an_id(estate: Estate) -> None:
    """Every operation of /openapi.json that takes a path parameter is in ROUTES, and
    every GET without one is a per-caller list checked below or about nobody."""
    document = estate.http.get("/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }
    with_ids = {op for op in operations if "{" in op[1]}
    assert with_ids - set(ROUTES) == set(), "routes with ids missing from ROUTES"
    assert set(ROUTES) - with_ids == set(), "ROUTES names routes the app does not have"
    for (method, path), route in ROUTES.items():
        assert set(route.params) == {p.split("}")[0] for p in path.split("{")[1:]}, path
        assert method in document["paths"][path] or method.lower() in document["paths"][path]
    gets = {path for method, path in operations if method == "GET" and "{" not in path}
    assert gets - set(LISTS) - PUBLIC == set(), "a new list: add it to LISTS or PUBLIC"


def _echoes(estate: Estate, caller: Caller, entries: list[dict[str, Any]]) -> list[str]:
    """The caller's own access log shows the caller's own attempts, with the ids they
    sent as ``resource_id``: an attempt on one of A's ids must read exactly like an
    attempt on an id that does not exist (same action, outcome and reason), and nothing
    else of A's may appear."""

    def shape(entry: dict[str, Any]) -> tuple[Any, ...]:
        per_entry = {"seq", "at", "resource_id", "request_id", "prev_hash", "entry_hash"}
        return tuple(v for k, v in sorted(entry.items()) if k not in per_entry)

    ids = set(estate.markers)
    problems: list[str] = []
    unknown = {shape(e) for e in entries if e["resource_id"] not in ids}
    for entry in entries:
        rest = json.dumps({k: v for k, v in entry.items() if k != "resource_id"})
        if leaked := [m for m in estate.markers if m in rest]:
            problems.append(f"{caller.kind} access log: {leaked} in {entry}")
        if entry["resource_id"] in ids and shape(entry) not in unknown:
            problems.append(f"{caller.kind} access log: {entry} reads unlike a missing id")
    return problems


def test_lists_hold_nothing_of_someone_elses_and_no_counts(estate: Estate) -> None:
    problems: list[str] = []
    for caller in estate.callers:
        paths = list(LISTS)
        if Kind.PERSON in caller.own:
            paths.append(f"/v1/patients/{caller.own[Kind.PERSON]}/records")
        if Kind.SESSION in caller.own:
            paths.append(f"/v1/cross-border/sessions/{caller.own[Kind.SESSION]}/records")
        for path in paths:
            r = estate.http.get(path, headers=caller.headers, params={"limit": 200})
            if path == f"{ME}/access-log" and r.status_code == 200:
                problems += _echoes(estate, caller, r.json()["items"])
            elif leaked := _leaks(estate, r):
                problems.append(f"{caller.kind} {path}: leaks {leaked}")
            if r.status_code == 200 and "items" in r.json():
                own_chain = {"chain", "checkpoint_proof"} if path == f"{ME}/access-log" else set()
                if not set(r.json()) <= {"items", "next_cursor", *own_chain}:
                    problems.append(f"{caller.kind} {path}: keys {sorted(r.json())}")
            elif r.status_code != 200 and _answer(r) not in REFUSALS:
                problems.append(f"{caller.kind} {path}: {r.status_code} {r.text[:200]}")
    assert not problems, "\n".join(problems)


def test_acting_for_someone_who_never_delegated_is_like_acting_for_nobody(
    estate: Estate,
) -> None:
    """B with ``On-Behalf-Of: A`` — on every citizen route, including the lists — gets
    exactly what ``On-Behalf-Of: <nobody>`` gets (R2, R10)."""
    (b,) = [c for c in estate.callers if c.kind == "citizen"]
    for path in LISTS:
        answers = [
            estate.http.get(path, headers={**b.headers, "On-Behalf-Of": pid})
            for pid in (estate.person, uuid.uuid4().hex)
        ]
        assert _answer(answers[0]) == HIDDEN, path
        assert _fingerprint(answers[0]) == _fingerprint(answers[1]), path


def test_hidden_records_leave_no_trace_in_paging(estate: Estate) -> None:
    """Paging one record at a time through what a professional may see never yields an
    empty page or a cursor past the last visible record: hidden records (restricted for
    a nurse; outside the lookback for a Mainland viewer) are filtered in the query."""
    a = estate.person
    hksh_nurse = estate.world.professional("hksh", profession="nurse")
    estate.legit["paging nurse"] = hksh_nurse
    sid = estate.ids[Kind.SESSION][0]
    for path, headers in (
        (f"/v1/patients/{a}/records", hksh_nurse),
        (f"/v1/cross-border/sessions/{sid}/records", estate.legit["viewer"]),
    ):
        everything = estate.http.get(path, headers=headers, params={"limit": 200}).json()
        visible = [r["id"] for r in everything["items"]]
        assert 0 < len(visible) < len(estate.ids[Kind.RECORD])
        paged: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 1}
            if cursor:
                params["cursor"] = cursor
            page = estate.http.get(path, headers=headers, params=params).json()
            assert len(page["items"]) == 1, (path, page)
            paged.append(page["items"][0]["id"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == visible


def test_nothing_of_as_changed_and_the_audit_chain_verifies(estate: Estate) -> None:
    """Runs last: every attempt above (DELETE, PATCH, renew, confirm, uploads, completes)
    left A's estate as it was; the pending request is still confirmable by its nurse."""
    assert _snapshot(estate) == estate.before
    # A was told of views by A's own professionals only (the paging test's reads)
    legit = {_subject(headers) for headers in estate.legit.values()}
    told = _notifications(estate)
    assert set(estate.notices) <= set(told)
    assert {who for n, who in told.items() if n not in estate.notices} <= legit
    a, rid = estate.person, estate.ids[Kind.RESTRICTED][0]
    confirmed = estate.http.post(
        f"/v1/patients/{a}/restricted-access/{rid}/confirm",
        headers=estate.legit["nurse"],
        json={"otp": estate.otp},
    )
    assert confirmed.status_code == 200, confirmed.text
    verified = estate.http.get("/v1/admin/audit/verify", headers=estate.world.operator)
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text
