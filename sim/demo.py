"""``crossvault demo``: a narrated walk-through of the cross-border flow, over real HTTP.

The demo drives a running server (one it starts itself on a free port, or ``--url``)
through ten steps, printing each HTTP call (who, method, path, a short body summary) and
its answer (status and key fields) with ``rich``:

1. a person joins eHealth;
2. the Hospital Authority deposits records dated over five years;
3. the person applies for a cross-border record for HKU-Shenzhen Hospital (two codes);
4. a doctor there redeems the codes and sees only the last three years;
5. the person sees that view in the access log and got a notification;
6. the person obtains a radiology authorisation;
7. the hospital deposits a DICOM study into the Personal Folder;
8. the person shares the folder with a Hong Kong doctor, who lists and reads the study;
9. revoking the cross-border authorisation ends the doctor's access at once;
10. institutions that are not designated, and a wrong passcode, are refused.

:func:`run_demo` returns a :class:`DemoResult` holding each step's calls and outcome
(``facts``), so tests assert on what happened rather than on the narration.

**What is printed, and what never is.** The demo prints what an integrator needs to follow
the flow: methods, paths (long ids cut to their first eight characters), statuses,
problem ``code``\\s, record categories, clinical dates, sources, titles, sizes, SHA-256
prefixes, and the person's access-log reasons and notification events. Titles are shown
because the API lists them to every permitted viewer, like a document's name. It never
prints record content (the text deposited, the report filed with the study, the DICOM
bytes or header), passwords, client or operator secrets, access tokens, or the
application code, passcode and radiology authorisation code: those appear as their prefix
only (``CB-••••``), as a person would not read theirs aloud at a demo.

"Not designated" (step 10) is shown with today's registry, in which every Mainland
institution is designated for the cross-border record: a Hong Kong hospital is refused an
application (it is not a designated Mainland institution), Guangdong Clifford Hospital is
refused a radiology authorisation (it is not a designated radiology depositor), and the
codes the person obtained for HKU-Shenzhen open nothing at Clifford.

Dates are this machine's Hong Kong calendar date (UTC+8); the lookback itself comes from
the server (the session's ``visible_since``). Against a long-running server each run adds
a person, credentials and professionals, and one failed code attempt at each of two
institutions (well below the lock-out thresholds).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from sim.server import OPERATOR_SECRET, running_server
from sim.studies import Study, instance

HONG_KONG = timezone(timedelta(hours=8))
PERSON_NAME = "Wong Siu Ming"
DICOM_PATIENT_NAME = "WONG^SIU MING"
PERSON_DOB = "1958-03-14"
CROSS_BORDER_INSTITUTION = "hku_sz"  # designated since 2024-07-15, radiology from 2026-01-27
HK_PROVIDER = "hksh"  # a private hospital: no implied sharing, needs the person's consent
OTHER_MAINLAND = "guangdong_clifford"  # designated for the cross-border record, not radiology
REPORT_TEXT = "Impression: 4 mm nodule, right upper lobe; follow-up CT in 12 months."
WHO_WIDTH = 22

Body = dict[str, Any]
Fact = str | int | bool | None | tuple[str, ...]


@dataclass(frozen=True)
class DemoRecord:
    """One eHR the Hospital Authority deposits, ``days_ago`` before today (Hong Kong)."""

    days_ago: int
    category: str
    title: str
    content: str


# Spread over five years and kept at least two months from the three-year boundary, so
# the split does not depend on the hour the demo runs.
HA_RECORDS: tuple[DemoRecord, ...] = (
    DemoRecord(1780, "encounter", "Cardiology clinic visit", "BP 158/96 mmHg on arrival."),
    DemoRecord(1600, "lab_report", "Lipid profile", "LDL cholesterol 4.1 mmol/L."),
    DemoRecord(1450, "diagnosis_procedure", "Essential hypertension", "ICD-10 I10 confirmed."),
    DemoRecord(1250, "medication", "Amlodipine", "Amlodipine 5 mg once daily, 90 days."),
    DemoRecord(1020, "lab_report", "Glycated haemoglobin", "HbA1c 6.4 percent, fasting."),
    DemoRecord(800, "clinical_note", "Discharge summary", "Cellulitis of left leg, resolved."),
    DemoRecord(560, "radiology_report", "Chest X-ray", "No active lung lesion seen today."),
    DemoRecord(380, "allergy", "Penicillin", "Generalised rash after amoxicillin 2024."),
    DemoRecord(150, "birth_immunisation", "Influenza vaccine", "Seasonal vaccine, left deltoid."),
    DemoRecord(40, "referral", "Ophthalmology referral", "Early cataract, both eyes, review."),
)

PLAINTEXT_CONTENT: tuple[str, ...] = (*(r.content for r in HA_RECORDS), REPORT_TEXT)
"""Everything the demo deposits as text content: none of it is ever printed."""


class DemoStopped(Exception):
    """A call answered what the demo did not expect (the message names the step, the
    call and the problem ``code``)."""


class ServerUnreachable(Exception):
    """No crossvault server answers at the URL, or none could be started."""


@dataclass(frozen=True)
class Exchange:
    """One HTTP call as the demo saw it."""

    who: str
    method: str
    path: str
    status: int
    code: str | None  # the problem ``code`` of a refusal


@dataclass(frozen=True)
class Answer:
    """An expected answer: status, problem code, the JSON body (``{}`` if none) and the
    raw content (never printed)."""

    status: int
    code: str | None
    body: Body
    content_type: str
    content: bytes = field(repr=False)

    @property
    def outcome(self) -> str:
        return f"{self.status} {self.code}"


@dataclass
class StepOutcome:
    number: int
    title: str
    exchanges: list[Exchange] = field(default_factory=list)
    facts: dict[str, Fact] = field(default_factory=dict)

    def answers(self, method: str, path_suffix: str) -> list[Exchange]:
        """The exchanges of ``method`` on a path ending with ``path_suffix``."""
        return [e for e in self.exchanges if e.method == method and e.path.endswith(path_suffix)]


@dataclass
class DemoResult:
    base_url: str
    steps: list[StepOutcome] = field(default_factory=list)

    def step(self, number: int) -> StepOutcome:
        return next(s for s in self.steps if s.number == number)


@dataclass(frozen=True)
class Actor:
    """Someone calling the API: a label for the narration and their request headers."""

    label: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


_LONG_ID = re.compile(r"[0-9a-f]{16,}")


def short(identifier: str) -> str:
    """An id as printed: its first eight characters."""
    return identifier[:8] + "…" if len(identifier) > 12 else identifier


def masked(code: str) -> str:
    """A code as printed: its prefix only (``CB-7KQ2-…`` becomes ``CB-••••``)."""
    return code.split("-", 1)[0] + "-••••"


def hk_time(instant: str, *, clock_only: bool = False) -> str:
    """An API timestamp (ISO 8601, UTC) as Hong Kong local time, for people."""
    local = datetime.fromisoformat(instant).astimezone(HONG_KONG)
    return local.strftime("%H:%M:%S" if clock_only else "%Y-%m-%d %H:%M HKT")


def today_in_hong_kong() -> date:
    return datetime.now(HONG_KONG).date()


def _json(response: httpx.Response) -> Body:
    if "json" not in response.headers.get("content-type", ""):
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _default_note(answer: Answer) -> str:
    if answer.code:
        return answer.code
    if answer.status == 204:
        return "no content"
    if not answer.body:
        return f"{answer.content_type}, {len(answer.content)} bytes (not shown)"
    return ""


class Narrator:
    """Prints steps and calls, makes the calls, and records what came back."""

    def __init__(self, http: httpx.Client, console: Console, *, pause: float = 0.0) -> None:
        self.http, self.console, self.pause = http, console, pause
        self.steps: list[StepOutcome] = []
        self._last_call = "no call yet"

    @property
    def current(self) -> StepOutcome:
        return self.steps[-1]

    @contextmanager
    def step(self, number: int, title: str, story: str) -> Iterator[StepOutcome]:
        """Announce a step; an answer body the step cannot use stops the demo."""
        if self.steps and self.pause > 0:
            time.sleep(self.pause)
        outcome = StepOutcome(number, title)
        self.steps.append(outcome)
        self.console.print()
        self.console.rule(f"[bold]{number} · {escape(title)}", align="left")
        self.console.print(Text(story, style="italic"))
        try:
            yield outcome
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise DemoStopped(
                f"step {number} ({title}): {self._last_call} answered a body the demo "
                f"cannot use ({type(exc).__name__})"
            ) from None

    def call(
        self,
        who: Actor,
        method: str,
        path: str,
        *,
        summary: str = "",
        expect: int = 200,
        brief: Callable[[Body], str] | None = None,
        **request: Any,
    ) -> Answer:
        """Make one call and print it; any status but ``expect`` stops the demo.
        ``brief`` picks the key fields to print from the JSON answer."""
        shown = _LONG_ID.sub(lambda m: short(m.group()), path)
        self._print_request(who.label, method, shown, summary)
        self._last_call = f"{method} {shown}"
        headers = {**who.headers, **request.pop("headers", {})}
        try:
            response = self.http.request(method, path, headers=headers, **request)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"lost the server during {method} {shown}: {exc}") from None
        body = _json(response)
        code = None if response.is_success else body.get("code")
        answer = Answer(
            response.status_code,
            code if isinstance(code, str) else None,
            body,
            response.headers.get("content-type", ""),
            response.content,
        )
        step = self.current
        step.exchanges.append(Exchange(who.label, method, path, answer.status, answer.code))
        if answer.status != expect:
            raise DemoStopped(
                f"step {step.number} ({step.title}): {method} {shown} answered "
                f"{answer.status} {answer.code or response.reason_phrase}, expected {expect}"
            )
        note = brief(body) if brief and answer.code is None else _default_note(answer)
        self._print_answer(answer.status, note, refused=not response.is_success)
        return answer

    def say(self, text: str) -> None:
        self.console.print(Padding(Text(text, style="bold"), (0, 0, 0, 2)))

    def fact(self, **facts: Fact) -> None:
        self.current.facts.update(facts)

    def records(self, items: list[Body]) -> None:
        """A table of listed records: date, category, source, title (never content)."""
        table = Table(box=None, padding=(0, 2), show_edge=False, header_style="dim")
        for column in ("clinical date", "category", "source", "title"):
            table.add_column(column)
        for item in items:
            table.add_row(
                item["clinical_date"], item["category"], item["source"], escape(item["title"])
            )
        self.console.print(Padding(table, (0, 0, 0, 2)))

    def _print_request(self, who: str, method: str, path: str, summary: str) -> None:
        line = Text.assemble((f"{method:<7}", "bold"), path)
        if summary:
            line.append("\n" + summary, style="dim")
        self._row(Text(who, style="cyan"), line)

    def _print_answer(self, status: int, note: str, *, refused: bool) -> None:
        line = Text.assemble("← ", (str(status), "bold yellow" if refused else "bold green"))
        if note:
            line.append(f"  {note}")
        self._row(Text(""), line)

    def _row(self, who: Text, body: Text) -> None:
        """Two columns, so that long lines wrap inside their own column."""
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(width=WHO_WIDTH, no_wrap=True, overflow="ellipsis")
        grid.add_column(overflow="fold")
        grid.add_row("", who, body)
        self.console.print(grid)


# -- the walk-through ----------------------------------------------------------------------------


class Walkthrough:
    """The ten steps, one method each, sharing what earlier steps created."""

    def __init__(self, narrator: Narrator, operator_secret: str) -> None:
        self.n = narrator
        self.operator_secret = operator_secret
        self.today = today_in_hong_kong()
        self.password = "demo-" + secrets.token_urlsafe(18)
        self.clients: dict[str, tuple[str, str]] = {}  # institution -> (client id, secret)
        self.operator = self.person = self.hku_doctor = Actor("nobody yet")
        self.person_id = self.cross_border_id = self.session_id = ""
        self.codes = ("", "")  # application code, passcode
        self.radiology_id = self.radiology_code = ""
        self.digests: set[str] = set()  # the depositor's receipts

    def run(self) -> None:
        self.person_joins()
        self.ha_deposits()
        self.person_applies()
        self.doctor_views()
        self.person_is_told()
        self.radiology_authorised()
        self.study_deposited()
        self.shared_for_follow_up()
        self.revocation()
        self.refusals()

    # -- helpers --------------------------------------------------------------------------

    def token(self, label: str, form: dict[str, str], summary: str) -> Actor:
        answer = self.n.call(
            Actor(label),
            "POST",
            "/v1/auth/token",
            data=form,
            summary=summary,
            brief=lambda b: f"{b['role']} token for {b['expires_in']} s (not shown)",
        )
        return Actor(label, {"Authorization": f"Bearer {answer.body['access_token']}"})

    def professional(self, institution_id: str, name: str, profession: str, label: str) -> Actor:
        """The operator issues the institution's client (once) and registers a
        professional, who then obtains a token."""
        if institution_id not in self.clients:
            issued = self.n.call(
                self.operator,
                "POST",
                f"/v1/institutions/{institution_id}/credentials",
                expect=201,
                brief=lambda b: f"client_id {b['client_id']}, secret shown once (not here)",
            ).body
            self.clients[institution_id] = (issued["client_id"], issued["client_secret"])
        registered = self.n.call(
            self.operator,
            "POST",
            f"/v1/institutions/{institution_id}/professionals",
            json={"name": name, "profession": profession},
            summary=f"{name}, {profession}",
            expect=201,
            brief=lambda b: f"professional {short(b['id'])}",
        ).body
        client_id, secret = self.clients[institution_id]
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "professional_id": registered["id"],
        }
        return self.token(label, form, f"client_credentials, {client_id}, {name}")

    def open_session(self, who: Actor, codes: tuple[str, str], expect: int) -> Answer:
        application_code, passcode = codes
        return self.n.call(
            who,
            "POST",
            "/v1/cross-border/sessions",
            json={"application_code": application_code, "passcode": passcode},
            summary=f"application code {masked(application_code)}, passcode {masked(passcode)}",
            expect=expect,
            brief=lambda b: (
                f"session {short(b['session_id'])}, visible since {b['visible_since']}, "
                f"until {hk_time(b['expires_at'])}"
            ),
        )

    def apply_cross_border(self, institution_id: str, expect: int = 201) -> Answer:
        return self._ask_authorisation(
            "cross-border-authorisations",
            institution_id,
            expect,
            lambda b: (
                f"authorisation {short(b['id'])}: application code "
                f"{masked(b['application_code'])}, passcode {masked(b['passcode'])}, usable "
                f"from {hk_time(b['usable_from'])}, expires {hk_time(b['expires_at'])}"
            ),
        )

    def authorise_radiology(self, institution_id: str, expect: int = 201) -> Answer:
        return self._ask_authorisation(
            "radiology-authorisations",
            institution_id,
            expect,
            lambda b: (
                f"authorisation {short(b['id'])}: code {masked(b['authorisation_code'])}, "
                f"expires {hk_time(b['expires_at'])}"
            ),
        )

    def _ask_authorisation(
        self, kind: str, institution_id: str, expect: int, brief: Callable[[Body], str]
    ) -> Answer:
        """The person asks for an authorisation of ``kind`` for one institution."""
        return self.n.call(
            self.person,
            "POST",
            f"/v1/me/{kind}",
            json={"institution_id": institution_id},
            summary=f"institution {institution_id}",
            expect=expect,
            brief=brief,
        )

    def list_records(self, who: Actor, path: str, **params: str) -> list[Body]:
        items: list[Body] = self.n.call(
            who,
            "GET",
            path,
            params={"limit": "200", **params},
            brief=lambda b: f"{len(b['items'])} records",
        ).body["items"]
        self.n.records(items)
        return items

    def access_log(self, limit: int) -> list[Body]:
        entries: list[Body] = self.n.call(
            self.person,
            "GET",
            "/v1/me/access-log",
            params={"limit": limit},
            brief=lambda b: f"the {len(b['items'])} latest entries",
        ).body["items"]
        return entries

    # -- the steps ------------------------------------------------------------------------

    def person_joins(self) -> None:
        with self.n.step(
            1,
            "A person joins eHealth",
            f"The operator registers {PERSON_NAME} (born {PERSON_DOB}), who joins eHealth; "
            "from then on every participating provider may deposit records.",
        ):
            operator = {"grant_type": "client_credentials", "client_id": "operator"}
            self.operator = self.token(
                "operator",
                {**operator, "client_secret": self.operator_secret},
                "client_credentials, operator",
            )
            self.person_id = self.n.call(
                self.operator,
                "POST",
                "/v1/persons",
                json={
                    "name": PERSON_NAME,
                    "date_of_birth": PERSON_DOB,
                    "password": self.password,
                    "joined": True,
                },
                summary=f"{PERSON_NAME}, born {PERSON_DOB}, joined, a password (not shown)",
                expect=201,
                brief=lambda b: f"person {short(b['id'])}",
            ).body["id"]
            citizen = {"grant_type": "password", "username": self.person_id}
            self.person = self.token(
                PERSON_NAME,
                {**citizen, "password": self.password},
                f"password, username {short(self.person_id)}",
            )
            me = self.n.call(
                self.person, "GET", "/v1/me", brief=lambda b: f"{b['name']}, joined: {b['joined']}"
            ).body
            self.n.fact(person_id=self.person_id, joined=me["joined"] is True)

    def ha_deposits(self) -> None:
        with self.n.step(
            2,
            "The Hospital Authority deposits records dated over five years",
            "HA holds implied sharing consent from joining. A doctor there deposits ten eHRs; "
            "their titles, categories and dates are printed, never their content.",
        ):
            doctor = self.professional("ha", "Dr Lau Wing Sze", "doctor", "HA · Dr Lau")
            dates = []
            for record in HA_RECORDS:
                clinical_date = (self.today - timedelta(days=record.days_ago)).isoformat()
                self.n.call(
                    doctor,
                    "POST",
                    f"/v1/patients/{self.person_id}/records",
                    json={
                        "category": record.category,
                        "clinical_date": clinical_date,
                        "title": record.title,
                        "content": record.content,
                        "content_type": "text/plain",
                    },
                    summary=f"{clinical_date} {record.category} “{record.title}”",
                    expect=201,
                    brief=lambda b: f"record {short(b['id'])}, {b['size']} bytes sealed",
                )
                dates.append(clinical_date)
            self.n.say(f"{len(dates)} records, {dates[0]} to {dates[-1]}.")
            self.n.fact(deposited=len(dates), dates=tuple(dates))

    def person_applies(self) -> None:
        with self.n.step(
            3,
            "The person applies for a cross-border record for HKU-Shenzhen Hospital",
            "Before the visit the person applies in the app. The answer carries the "
            "application code and the passcode once (masked here); afterwards they are only "
            "QR codes for staff to scan.",
        ):
            issued = self.apply_cross_border(CROSS_BORDER_INSTITUTION).body
            self.cross_border_id = issued["id"]
            self.codes = (issued["application_code"], issued["passcode"])
            images = [
                self.n.call(
                    self.person,
                    "GET",
                    f"/v1/me/cross-border-authorisations/{self.cross_border_id}/qr/{which}",
                ).content_type
                for which in ("application", "passcode")
            ]
            self.n.fact(
                authorisation_id=self.cross_border_id,
                expires_at=issued["expires_at"],
                qr_codes=tuple(images),
            )

    def doctor_views(self) -> None:
        with self.n.step(
            4,
            "A doctor at HKU-Shenzhen Hospital redeems the codes: the last three years only",
            "Staff scan both QR codes; the session shows the person's eHRs whose clinical "
            "date lies in the three-year lookback. Older records are neither listed nor "
            "counted.",
        ):
            self.hku_doctor = self.professional(
                CROSS_BORDER_INSTITUTION, "Dr Zhang Wei", "doctor", "HKU-SZ · Dr Zhang"
            )
            opened = self.open_session(self.hku_doctor, self.codes, 201).body
            self.session_id = opened["session_id"]
            items = self.list_records(
                self.hku_doctor, f"/v1/cross-border/sessions/{self.session_id}/records"
            )
            earliest = min((item["clinical_date"] for item in items), default=None)
            self.n.say(
                f"{len(items)} of the {len(HA_RECORDS)} records deposited are visible "
                f"(visible since {opened['visible_since']}; earliest visible {earliest})."
            )
            self.n.fact(
                session_id=self.session_id,
                visible=len(items),
                total=len(HA_RECORDS),
                visible_since=opened["visible_since"],
                earliest_visible=earliest,
                sources=tuple(sorted({item["source"] for item in items})),
            )

    def person_is_told(self) -> None:
        with self.n.step(
            5,
            "The person sees the view in the access log and is notified",
            "Every decision about the person's data is logged before anything leaves; every "
            "view by someone else sends a notification (simulated SMS/e-mail).",
        ):
            entries = [e for e in self.access_log(50) if e["institution_id"] == "hku_sz"]
            for entry in reversed(entries):
                self.n.say(_log_line(entry))
            notices = self.n.call(
                self.person,
                "GET",
                "/v1/me/notifications",
                params={"limit": 50},
                brief=lambda b: f"{len(b['items'])} notifications",
            ).body["items"]
            notices = [n for n in notices if n["institution_id"] == "hku_sz"]
            for notice in reversed(notices):
                self.n.say(
                    f"{hk_time(notice['at'], clock_only=True)}  {notice['channel']}: "
                    f"{notice['event']} by {notice['actor_kind']} {short(notice['actor_id'])} "
                    f"({notice['institution_id']})"
                )
            self.n.fact(
                log_entries=len(entries),
                log_actions=tuple(e["action"] for e in entries),
                notifications=len(notices),
                notification_events=tuple(n["event"] for n in notices),
            )

    def radiology_authorised(self) -> None:
        with self.n.step(
            6,
            "The person obtains a radiology authorisation",
            "Since 27 Jan 2026 HKU-Shenzhen Hospital may file a visit's radiology report and "
            "images straight into the Personal Folder, with an Authorisation QR code the "
            "person obtains before the visit.",
        ):
            issued = self.authorise_radiology(CROSS_BORDER_INSTITUTION).body
            self.radiology_id = issued["id"]
            self.radiology_code = issued["authorisation_code"]
            self.n.fact(authorisation_id=self.radiology_id, expires_at=issued["expires_at"])

    def study_deposited(self) -> None:
        with self.n.step(
            7,
            "HKU-Shenzhen Hospital deposits a DICOM study",
            "A radiographer opens a deposit with the person's code, streams two CT "
            "instances (real DICOM, made with pydicom) and the report, then completes it: "
            "everything appears in the Personal Folder at once. The depositor gets only "
            "receipts.",
        ):
            radiographer = self.professional(
                CROSS_BORDER_INSTITUTION, "Li Na", "radiographer", "HKU-SZ · radiographer"
            )
            opened = self.n.call(
                radiographer,
                "POST",
                "/v1/radiology/deposits",
                json={"authorisation_code": self.radiology_code},
                summary=f"authorisation code {masked(self.radiology_code)}",
                expect=201,
                brief=lambda b: (
                    f"deposit {short(b['deposit_id'])}, {b['state']}, "
                    f"clinical date {b['clinical_date']}"
                ),
            ).body
            deposit = f"/v1/radiology/deposits/{opened['deposit_id']}"
            for name, content_type, content in self._study_files():
                receipt = self.n.call(
                    radiographer,
                    "PUT",
                    f"{deposit}/files/{name}",
                    content=content,
                    headers={"Content-Type": content_type},
                    summary=f"{content_type}, {len(content)} bytes",
                    expect=201,
                    brief=lambda b: f"{b['category']}, {b['state']}, sha256 {b['sha256'][:12]}…",
                ).body
                self.digests.add(receipt["sha256"])
            completed = self.n.call(
                radiographer,
                "POST",
                f"{deposit}/complete",
                brief=lambda b: f"{b['state']}, {len(b['files'])} files",
            ).body
            folder = self.list_records(self.person, "/v1/me/records", source="personal_folder")
            status = self.n.call(
                self.person,
                "GET",
                f"/v1/me/radiology-authorisations/{self.radiology_id}",
                brief=lambda b: f"status {b['status']}",
            ).body["status"]
            self.n.fact(
                deposit_state=completed["state"],
                files=len(completed["files"]),
                folder_records=len(folder),
                folder_categories=tuple(sorted(item["category"] for item in folder)),
                authorisation_status=status,
            )

    def _study_files(self) -> list[tuple[str, str, bytes]]:
        """Two CT instances of one study (named for the person, dated today) and a report."""
        study = Study(
            patient_name=DICOM_PATIENT_NAME,
            patient_id="HK-DEMO-0001",
            study_date=self.today.strftime("%Y%m%d"),
        )
        return [
            ("ct-1.dcm", "application/dicom", instance(study, rows=64, columns=64)),
            ("ct-2.dcm", "application/dicom", instance(study, rows=64, columns=64)),
            ("report.txt", "text/plain", REPORT_TEXT.encode()),
        ]

    def shared_for_follow_up(self) -> None:
        with self.n.step(
            8,
            "The person shares the study with a Hong Kong doctor for follow-up",
            "A sharing consent lets Hong Kong Sanatorium's professionals view the Personal "
            "Folder, and only it: the consent's scope leaves the HA eHRs out.",
        ):
            consent = self.n.call(
                self.person,
                "POST",
                "/v1/me/sharing-consents",
                json={
                    "institution_id": HK_PROVIDER,
                    "kind": "one_year",
                    "scopes": ["personal_folder"],
                },
                summary=f"institution {HK_PROVIDER}, one_year, scopes personal_folder",
                expect=201,
                brief=lambda b: (
                    f"consent {short(b['id'])}, active: {b['active']}, "
                    f"expires {hk_time(b['expires_at'])}"
                ),
            ).body
            doctor = self.professional(HK_PROVIDER, "Dr Ho Ka Yan", "doctor", "HKSH · Dr Ho")
            items = self.list_records(doctor, f"/v1/patients/{self.person_id}/records")
            [image, *_] = [i for i in items if i["category"] == "radiology_images"]
            read = self.n.call(
                doctor, "GET", f"/v1/patients/{self.person_id}/records/{image['id']}/content"
            )
            digest = hashlib.sha256(read.content).hexdigest()
            is_dicom = read.content[128:132] == b"DICM"
            matches = digest in self.digests
            self.n.say(
                f"A DICOM file: {is_dicom}; its SHA-256 {digest[:12]}… matches the "
                f"depositor's receipt: {matches}."
            )
            self.n.fact(
                consent_active=consent["active"] is True,
                listed=len(items),
                sources=tuple(sorted({i["source"] for i in items})),
                read_status=read.status,
                is_dicom=is_dicom,
                digest_matches_receipt=matches,
            )

    def revocation(self) -> None:
        with self.n.step(
            9,
            "Revocation ends access at once",
            "The person revokes the cross-border authorisation. The doctor's open session "
            "ends with it: the next list is the plain 404 an unknown session gets, and the "
            "codes open nothing any more.",
        ):
            revoked = self.n.call(
                self.person,
                "DELETE",
                f"/v1/me/cross-border-authorisations/{self.cross_border_id}",
                expect=204,
            )
            listed = self.n.call(
                self.hku_doctor,
                "GET",
                f"/v1/cross-border/sessions/{self.session_id}/records",
                expect=404,
            )
            reopened = self.open_session(self.hku_doctor, self.codes, 403)
            self.n.fact(
                revoke_status=revoked.status,
                list_status=listed.status,
                list_code=listed.code,
                reopen_status=reopened.status,
                reopen_code=reopened.code,
            )

    def refusals(self) -> None:
        with self.n.step(
            10,
            "Institutions that are not designated, and a wrong passcode, are refused",
            "A Hong Kong hospital is not a designated Mainland institution; Guangdong "
            "Clifford Hospital is designated for the cross-border record but is not a "
            "radiology depositor, and codes issued for HKU-Shenzhen open nothing there. "
            "Every wrong pair gets one answer; the person's log keeps the real reasons.",
        ):
            hong_kong = self.apply_cross_border(HK_PROVIDER, expect=422)
            radiology = self.authorise_radiology(OTHER_MAINLAND, expect=403)
            issued = self.apply_cross_border(CROSS_BORDER_INSTITUTION).body
            codes = (issued["application_code"], issued["passcode"])
            clifford = self.professional(
                OTHER_MAINLAND, "Dr Chen Jing", "doctor", "Clifford · Dr Chen"
            )
            elsewhere = self.open_session(clifford, codes, 400)
            wrong = "PC-0000-0000" if codes[1] != "PC-0000-0000" else "PC-1111-1111"
            wrong_passcode = self.open_session(self.hku_doctor, (codes[0], wrong), 400)
            refused = [e for e in self.access_log(10) if not e["allowed"]]
            for entry in reversed(refused):
                self.n.say(_log_line(entry))
            self.n.fact(
                hk_institution=hong_kong.outcome,
                radiology_not_depositor=radiology.outcome,
                other_institution=elsewhere.outcome,
                wrong_passcode=wrong_passcode.outcome,
                logged_reasons=tuple(e["reason"] for e in refused),
            )


def _log_line(entry: Body) -> str:
    """One access-log entry as the person reads it."""
    who = "the person" if entry["actor_kind"] == "citizen" else entry["institution_id"]
    verdict = "allowed" if entry["allowed"] else "refused"
    return (
        f"{hk_time(entry['at'], clock_only=True)}  {who}: {entry['action']} — "
        f"{verdict} ({entry['reason']})"
    )


# -- running it ----------------------------------------------------------------------------------


def check_reachable(http: httpx.Client) -> None:
    """Raise :class:`ServerUnreachable` unless a crossvault server answers ``/healthz``."""
    try:
        response = http.get("/healthz")
    except httpx.TransportError as exc:
        reason = str(exc).split("] ", 1)[-1].lower() or type(exc).__name__
        raise ServerUnreachable(f"cannot reach {http.base_url}: {reason}") from None
    if response.status_code != 200 or _json(response).get("status") != "ok":
        raise ServerUnreachable(
            f"{http.base_url} is not a crossvault server "
            f"(GET /healthz answered {response.status_code})"
        )


def run_demo(
    base_url: str, operator_secret: str, console: Console, *, pause: float = 0.0
) -> DemoResult:
    """Walk through the ten steps against the server at ``base_url``."""
    if not base_url.startswith(("http://", "https://")):
        raise ServerUnreachable(f"--url must start with http:// or https:// (got {base_url!r})")
    try:
        http = httpx.Client(base_url=base_url, timeout=30)
    except httpx.InvalidURL as exc:
        raise ServerUnreachable(f"not a usable URL: {base_url!r} ({exc})") from None
    with http:
        check_reachable(http)
        console.print(
            Text.assemble(("crossvault demo", "bold"), f": the cross-border flow, at {base_url}")
        )
        narrator = Narrator(http, console, pause=pause)
        Walkthrough(narrator, operator_secret).run()
    console.print()
    console.rule("[bold green]All ten steps answered as expected", align="left")
    return DemoResult(base_url, narrator.steps)


def run_self_started(console: Console, *, pause: float = 0.0) -> DemoResult:
    """Start ``crossvault serve`` on a free port in a temporary directory (embedded
    SQLite), run the demo against it, and stop it."""
    with tempfile.TemporaryDirectory(prefix="crossvault-demo-") as directory, ExitStack() as stack:
        console.print(Text("Starting a crossvault server in a temporary directory…", "dim"))
        try:
            served = stack.enter_context(running_server(Path(directory) / "data"))
        except RuntimeError as exc:
            raise ServerUnreachable(f"could not start a server: {exc}") from None
        return run_demo(served.base, OPERATOR_SECRET, console, pause=pause)


def main(
    url: str | None,
    operator_secret: str | None,
    *,
    pause: float = 0.0,
    plain: bool = False,
    console: Console | None = None,
) -> int:
    """``crossvault demo``: 0 when every step answered as expected, 1 when one did not,
    2 when there is no server to talk to; a failure is one line on stderr."""
    console = console or Console(color_system=None if plain else "auto", highlight=False)
    try:
        if url is None:
            run_self_started(console, pause=pause)
        elif not operator_secret:
            _fail("--url needs --operator-secret (or CROSSVAULT_OPERATOR_SECRET)")
            return 2
        else:
            run_demo(url, operator_secret, console, pause=pause)
    except ServerUnreachable as exc:
        _fail(str(exc))
        return 2
    except DemoStopped as exc:
        _fail(f"stopped at {exc}")
        return 1
    return 0


def _fail(message: str) -> None:
    print(f"crossvault demo: {' '.join(message.split())}", file=sys.stderr)
