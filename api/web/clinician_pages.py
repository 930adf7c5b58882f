"""The clinicians' pages: a Mainland professional redeems a person's two codes for a
viewing session (R4); a Hong Kong professional looks a patient up, reads what consent and
role allow, and asks for restricted categories with a reason and the person's OTP (R3).
The same use-cases and guards as ``/v1/cross-border`` and ``/v1/patients``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.errors import problem_for
from api.problems import Problem
from api.web.common import PREFIX, CsrfField, checked, professional, see_other
from api.web.messages import CATEGORIES, message_for
from api.web.records_view import Reading, one_record, record_list
from api.web.render import Page, WebRoute
from api.web.scan import MAX_PHOTO_BYTES, scanned
from policies.dates import hk_date
from policies.vocabulary import Action, ActorKind, Category
from vault.access.judge import Caller
from vault.core.errors import NotFound
from vault.cross_border.sessions import CodePair, ViewingSessions
from vault.crypto.secrets import Secret
from vault.restricted.requests import InvalidOtp, OtpExpired, RestrictedAccess

router = APIRouter(prefix=f"{PREFIX}/clinician", route_class=WebRoute, include_in_schema=False)
Code = Annotated[str, Form(max_length=100)]
BASE = f"{PREFIX}/clinician"


def _clinician(request: Request) -> tuple[Page, Caller]:
    page = Page.of(request)
    return page, professional(page)


def _mainland(caller: Caller) -> bool:
    return caller.actor.kind is ActorKind.MAINLAND_PROFESSIONAL


@router.get("", response_class=HTMLResponse)
def start(request: Request) -> Response:
    page, caller = _clinician(request)
    template = "codes.html" if _mainland(caller) else "lookup.html"
    return page.render(template, clinician_nav=True, mainland=_mainland(caller))


# --- Mainland: the two codes, then the three-year window (R4) ---------------------------


@router.post("/sessions")
def open_session(
    request: Request, application_code: Code, passcode: Code, csrf: CsrfField = ""
) -> Response:
    """Codes typed in any case, with or without spaces and dashes (as the API takes
    them); they never appear in a URL or a log."""
    page = Page.of(request)
    checked(page, csrf)
    caller = professional(page)
    if not _mainland(caller):
        raise Problem(403, "wrong_role", "Forbidden")
    opened = ViewingSessions(page.services.judge).open(
        caller, CodePair.of(application_code, passcode)
    )
    return see_other(f"{BASE}/sessions/{opened.id}")


@router.post("/scan")
def scan(
    request: Request,
    photo: Annotated[UploadFile, File()],
    csrf: CsrfField = "",
) -> Response:
    """A photo of the person's two QR codes, decoded here (not in the browser): then the
    same redemption as typed codes."""
    page = Page.of(request)
    checked(page, csrf)
    caller = professional(page)
    if not _mainland(caller):
        raise Problem(403, "wrong_role", "Forbidden")
    codes = scanned(photo.file.read(MAX_PHOTO_BYTES + 1))
    opened = ViewingSessions(page.services.judge).open(
        caller, CodePair.of(codes.application_code, codes.passcode)
    )
    return see_other(f"{BASE}/sessions/{opened.id}")


def _session_person(page: Page, caller: Caller, sid: str, action: Action) -> str | None:
    try:
        return ViewingSessions(page.services.judge).person_of(caller, sid[:80], action)
    except NotFound:
        return None


def _ended(page: Page) -> Response:
    """A session that ended (revoked, expired) and one that never was: the same page."""
    return page.render("session_ended.html", 404, clinician_nav=True, mainland=True)


@router.get("/sessions/{sid}", response_class=HTMLResponse)
def session_records(request: Request, sid: str) -> Response:
    page, caller = _clinician(request)
    person = _session_person(page, caller, sid, Action.LIST_RECORDS)
    if person is None:
        return _ended(page)
    since = page.services.policy.visible_since(hk_date(page.services.vault.clock.now()))
    reading = Reading(caller, person, f"{BASE}/sessions/{sid}", session_id=sid)
    try:
        return record_list(
            page,
            reading,
            heading=page.gettext("Cross-boundary health record"),
            visible_since=since,
            clinician_nav=True,
            mainland=True,
        )
    except NotFound:  # the session ended (revoked, expired): its list is refused
        return _ended(page)


@router.get("/sessions/{sid}/{record_id}", response_class=HTMLResponse)
def session_record(request: Request, sid: str, record_id: str) -> Response:
    page, caller = _clinician(request)
    person = _session_person(page, caller, sid, Action.READ_CONTENT)
    if person is None:
        return _ended(page)
    reading = Reading(caller, person, f"{BASE}/sessions/{sid}", session_id=sid)
    return one_record(page, reading, record_id[:80], clinician_nav=True, mainland=True)


# --- Hong Kong: patient lookup, records, restricted access (R3) -------------------------


@router.get("/patients", response_class=HTMLResponse)
def lookup(request: Request, pid: str = "") -> Response:
    page, _ = _clinician(request)  # a professional only
    chosen = pid.strip()[:40]
    if not chosen:
        return page.render("lookup.html", clinician_nav=True)
    return see_other(f"{BASE}/patients/{chosen}")


@router.get("/patients/{pid}", response_class=HTMLResponse)
def patient(request: Request, pid: str) -> Response:
    page, caller = _clinician(request)
    reading = Reading(caller, pid[:40], f"{BASE}/patients/{pid[:40]}")
    restricted = _restricted_for(page, caller)
    return record_list(
        page,
        reading,
        heading=page.gettext("Patient %(id)s") % {"id": pid[:40]},
        restricted=restricted,
        patient_id=pid[:40],
        clinician_nav=True,
    )


def _restricted_for(page: Page, caller: Caller) -> list[tuple[str, str]]:
    general = page.services.policy.general_categories.get(caller.actor.profession or "")
    return [(c.value, CATEGORIES[c.value]) for c in Category if general and c not in general]


@router.get("/patients/{pid}/{record_id}", response_class=HTMLResponse)
def patient_record(request: Request, pid: str, record_id: str) -> Response:
    page, caller = _clinician(request)
    reading = Reading(caller, pid[:40], f"{BASE}/patients/{pid[:40]}")
    return one_record(page, reading, record_id[:80], clinician_nav=True)


Reason = Annotated[str, Form(min_length=10, max_length=500)]
Categories = Annotated[list[Category], Form(min_length=1, max_length=13)]


@router.post("/patients/{pid}/restricted", response_class=HTMLResponse)
def request_restricted(
    request: Request, pid: str, reason: Reason, categories: Categories, csrf: CsrfField = ""
) -> Response:
    """Ask for restricted categories: the person gets a one-time password to pass on."""
    page = Page.of(request)
    checked(page, csrf)
    caller = professional(page)
    pending = RestrictedAccess(page.services.judge).request(
        caller, pid[:40], reason.strip(), categories
    )
    return page.render(
        "otp.html", pending=pending, request_id=pending.id, patient_id=pid[:40], clinician_nav=True
    )


@router.post("/patients/{pid}/restricted/{rid}")
def confirm_restricted(
    request: Request,
    pid: str,
    rid: str,
    otp: Annotated[str, Form(max_length=20)],
    csrf: CsrfField = "",
) -> Response:
    page = Page.of(request)
    checked(page, csrf)
    caller = professional(page)
    try:
        RestrictedAccess(page.services.judge).confirm(
            caller, pid[:40], rid[:80], Secret(otp.strip())
        )
    except (InvalidOtp, OtpExpired) as error:  # audited; the form again, with the reason
        problem = problem_for(error, page.services.vault.clock.now())
        return page.render(
            "otp.html",
            problem.status,
            pending=None,
            request_id=rid[:80],
            patient_id=pid[:40],
            code=problem.code,
            message=page.gettext(message_for(problem.code)),
            clinician_nav=True,
        )
    return see_other(f"{BASE}/patients/{pid[:40]}")
