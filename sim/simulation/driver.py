"""Running a :class:`~sim.simulation.timeline.Plan` against the API, over real HTTP.

Each simulated day: the operator moves the server's clock to that day (noon, Hong Kong
time; set-up at midnight the day before ``start``), then the day's events run in four
phases, each finished before the next starts:

1. ``register`` — the operator registers people and staff (set-up only);
2. ``morning`` — people apply, consent, revoke, authorise; providers deposit; a nurse asks
   for restricted access and the person reads the OTP from their notifications;
3. ``scan`` — everything that redeems a secret: staff scan cross-border codes (typos,
   foreign scanners, guessing attacks included), radiology depositors redeem their
   code, nurses confirm OTPs;
4. ``afternoon`` — sessions are read, revoked and read again; studies uploaded and
   completed; folders filled; providers view records.

Determinism: the morning and afternoon phases run people's events side by side (one lane
per person, ``workers`` threads), because nothing one person does there changes what
another is answered. The scan phase runs in one thread, in plan order: failed redemptions
count against per-professional and per-institution lock-outs shared by everyone, so their
order decides who gets locked out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import IntEnum
from functools import partial
from typing import Any

from policies.dates import HONG_KONG
from policies.policy_file import Policy
from policies.vocabulary import Profession, Region
from sim.simulation.client import Answer, Api, Headers, Login, ServerRefused
from sim.simulation.events import (
    ELSEWHERE,
    Apply,
    AppointCaregiver,
    Attack,
    AuthoriseRadiology,
    DepositEhr,
    DepositRadiology,
    Event,
    ForeignScan,
    GiveConsent,
    ProviderView,
    Register,
    RevokeConsent,
    UploadToFolder,
    Visit,
)
from sim.simulation.population import Person, Population
from sim.simulation.tally import Tally
from sim.simulation.timeline import Plan
from sim.studies import Study, instance

NOON = time(12, 0)
MIDNIGHT = time(0, 0)
PAGE = 200
WRONG_PASSCODE = "PC-WRNG-WRNG-WRNG-WRNG-WRNG-WRNG"
RESTRICTED_REASON = "Follow-up of a fracture: need the radiology report for treatment."
ATTACKER = "attacker"


class Phase(IntEnum):
    REGISTER = 0
    MORNING = 1
    SCAN = 2
    AFTERNOON = 3


class Interrupted(Exception):
    """The run was stopped (Ctrl-C); what was done so far is in the tally."""


@dataclass(frozen=True)
class Step:
    phase: Phase
    lane: int
    run: Callable[[], None]


@dataclass(frozen=True)
class Codes:
    authorisation_id: str
    application_code: str
    passcode: str


@dataclass(frozen=True)
class KnownRecord:
    id: str
    clinical_date: date
    category: str


@dataclass
class PersonState:
    """What one person's lane knows: ids, codes and the records it deposited."""

    person_id: str = ""
    authorisations: dict[str, Codes] = field(default_factory=dict)
    consents: dict[str, str] = field(default_factory=dict)  # institution -> consent id
    radiology_codes: dict[str, str] = field(default_factory=dict)
    records: list[KnownRecord] = field(default_factory=list)
    delegation_renewed: bool = False


@dataclass
class Staff:
    institution_id: str
    role: str  # a profession, or ATTACKER
    login: Login | None = None


@dataclass
class _Context:
    """What a multi-phase event carries from one phase to the next."""

    session_id: str | None = None
    visible_since: date | None = None
    deposit_id: str | None = None
    request_id: str | None = None
    otp: str | None = None
    granted: bool = False


def instant(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=HONG_KONG)


class Driver:
    """Runs a plan; see the module docstring."""

    def __init__(
        self,
        api: Api,
        population: Population,
        plan: Plan,
        policy: Policy,
        tally: Tally,
        *,
        workers: int,
        stop: threading.Event,
        on_step: Callable[[], None] = lambda: None,
    ) -> None:
        self.api = api
        self.population = population
        self.plan = plan
        self.policy = policy
        self.tally = tally
        self.workers = workers
        self.stop = stop
        self.on_step = on_step
        self.states = [PersonState() for _ in population.people]
        self.staff: dict[tuple[str, str], Staff] = {}
        self.today = plan.setup_day
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simulate")

    # --- running -------------------------------------------------------------------------

    @property
    def step_count(self) -> int:
        return sum(len(self._steps(e)) for e in self._all_events()) + len(self._staff_roles())

    def _all_events(self) -> Iterator[Event]:
        yield from self.plan.setup
        for day in self.plan.days:
            yield from day.events

    def run(self) -> None:
        """Set up, then every day of the plan. Raises :class:`Interrupted` on Ctrl-C
        (after the steps under way have finished)."""
        try:
            self._day(self.plan.setup_day, MIDNIGHT, self.plan.setup, setup=True)
            for day in self.plan.days:
                self._day(day.day, NOON, day.events)
        except KeyboardInterrupt:
            self.stop.set()
            raise Interrupted from None
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _day(self, day: date, at: time, events: tuple[Event, ...], setup: bool = False) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.today = day
        self.api.set_clock(instant(day, at))
        steps = [s for e in events for s in self._steps(e)]
        if setup:
            steps += self._staff_steps()
        else:
            self._log_in({login.key: login for e in events for login in self._logins(e)})
        for phase in Phase:
            self._phase(phase, [s for s in steps if s.phase is phase])

    def _phase(self, phase: Phase, steps: list[Step]) -> None:
        if not steps:
            return
        if phase is Phase.SCAN or self.workers == 1:
            self._lane(steps)
            return
        lanes: dict[int, list[Step]] = {}
        for step in steps:
            lanes.setdefault(step.lane, []).append(step)
        futures: list[Future[None]] = [self.pool.submit(self._lane, ls) for ls in lanes.values()]
        try:
            for future in futures:
                future.result()
        except BaseException:
            self.stop.set()
            raise

    def _log_in(self, logins: dict[str, Login]) -> None:
        """Obtain the day's tokens side by side before its events start (logins are the
        slow part of a day: each checks an argon2id hash)."""
        futures = [self.pool.submit(self.api.headers, login) for login in logins.values()]
        try:
            for future in futures:
                future.result()
        except BaseException:
            self.stop.set()
            raise

    def _logins(self, event: Event) -> list[Login]:
        """Whose tokens ``event`` will need (see :meth:`_steps`)."""
        logins = [self._staff_login(iid, role) for iid, role in _staff_of(event)]
        if _citizen_acts(event):
            logins.append(self._acting_login(event.person))
        return logins

    def _lane(self, steps: list[Step]) -> None:
        for step in steps:
            if self.stop.is_set():
                return
            step.run()
            self.tally.step_done()
            self.on_step()

    def _steps(self, event: Event) -> list[Step]:
        lane = event.person
        steps: list[tuple[Phase, Callable[[], None]]]
        match event:
            case Register():
                steps = [(Phase.REGISTER, lambda: self.register(event))]
            case AppointCaregiver():
                steps = [(Phase.MORNING, lambda: self.appoint(event))]
            case GiveConsent():
                steps = [(Phase.MORNING, lambda: self.give_consent(event))]
            case RevokeConsent():
                steps = [
                    (Phase.MORNING, lambda: self.revoke_consent(event)),
                    (Phase.AFTERNOON, lambda: self.read_after_consent_revoked(event)),
                ]
            case DepositEhr():
                steps = [(Phase.MORNING, lambda: self.deposit_ehr(event))]
            case Apply():
                steps = [(Phase.MORNING, lambda: self.apply(event))]
            case Visit():
                visit = _Context()
                steps = [
                    (Phase.SCAN, lambda: self.scan(event, visit)),
                    (Phase.AFTERNOON, lambda: self.read_session(event, visit)),
                ]
            case ForeignScan():
                steps = [(Phase.SCAN, lambda: self.foreign_scan(event))]
            case Attack():
                steps = [(Phase.SCAN, lambda: self.attack(event))]
            case UploadToFolder():
                steps = [(Phase.AFTERNOON, lambda: self.upload(event))]
            case ProviderView():
                view = _Context()
                steps = [(Phase.AFTERNOON, lambda: self.provider_reads(event, view))]
                if event.restricted:
                    steps = [
                        (Phase.MORNING, lambda: self.ask_restricted(event, view)),
                        (Phase.SCAN, lambda: self.confirm_restricted(event, view)),
                        *steps,
                    ]
                elif event.folder:
                    steps = [(Phase.MORNING, lambda: self.open_folder(event)), *steps]
            case AuthoriseRadiology():
                steps = [(Phase.MORNING, lambda: self.authorise_radiology(event))]
            case DepositRadiology():
                deposit = _Context()
                steps = [
                    (Phase.SCAN, lambda: self.open_deposit(event, deposit)),
                    (Phase.AFTERNOON, lambda: self.upload_study(event, deposit)),
                ]
            case _:
                raise TypeError(f"no step for {type(event).__name__}")
        return [Step(phase, lane, run) for phase, run in steps]

    # --- staff ---------------------------------------------------------------------------

    def _staff_roles(self) -> list[tuple[str, str]]:
        """The (institution, role) pairs the plan's events need, in a fixed order."""
        return sorted({pair for event in self._all_events() for pair in _staff_of(event)})

    def _staff_steps(self) -> list[Step]:
        """One client per institution and one professional per role, registered by the
        operator during set-up (lanes below zero: one per institution)."""
        lanes: dict[str, int] = {}
        steps = []
        for iid, role in self._staff_roles():
            lane = lanes.setdefault(iid, -1 - len(lanes))
            steps.append(Step(Phase.REGISTER, lane, partial(self._hire, iid, role)))
        return steps

    def _hire(self, iid: str, role: str) -> None:
        operator = self.api.operator()
        client = next((s.login for (i, _), s in self.staff.items() if i == iid and s.login), None)
        if client is None:
            made = self.api.call(
                "create_credentials",
                "operator",
                "POST",
                f"/v1/institutions/{iid}/credentials",
                headers=operator,
            )
            if not made.ok:
                raise ServerRefused(f"credentials for {iid} refused: {made.outcome}")
            form = {
                "grant_type": "client_credentials",
                "client_id": made.field("client_id"),
                "client_secret": made.field("client_secret"),
            }
        else:
            form = dict(client.form)
        profession = Profession.DOCTOR.value if role == ATTACKER else role
        hired = self.api.call(
            "create_professional",
            "operator",
            "POST",
            f"/v1/institutions/{iid}/professionals",
            headers=operator,
            json={"name": f"Sim {role} of {iid}", "profession": profession},
        )
        if not hired.ok:
            raise ServerRefused(f"a professional at {iid} was refused: {hired.outcome}")
        form["professional_id"] = hired.field("id")
        region = self.policy.institutions[iid].region
        kind = "mainland_professional" if region is Region.MAINLAND else "hk_professional"
        self.staff[(iid, role)] = Staff(iid, role, Login(f"staff:{iid}:{role}", kind, form))

    def _staff_login(self, iid: str, role: str | Profession = Profession.DOCTOR) -> Login:
        login = self.staff[(iid, str(role))].login
        assert login is not None
        return login

    def _staff(self, iid: str, role: str | Profession = Profession.DOCTOR) -> tuple[str, Headers]:
        login = self._staff_login(iid, role)
        return login.actor_kind, self.api.headers(login)

    # --- people --------------------------------------------------------------------------

    def _person(self, index: int) -> tuple[Person, PersonState]:
        return self.population.people[index], self.states[index]

    def _login(self, person: Person) -> Login:
        form = {
            "grant_type": "password",
            "username": self.states[person.index].person_id,
            "password": person.password,
        }
        return Login(f"person:{person.index}", "citizen", form)

    def _acting_login(self, index: int) -> Login:
        """The login of whoever acts for person ``index`` (their caregiver, or them)."""
        return self._login(self.population.acting_for(self.population.people[index]))

    def _own(self, person: Person) -> Headers:
        return self.api.headers(self._login(person))

    def _as_person(
        self, index: int, kind: str, method: str, path: str, json: Any = None, **kw: Any
    ) -> Answer:
        """A citizen call for person ``index``, made by their caregiver if they have one
        (``On-Behalf-Of``). A caregiver refused because the delegation expired has the
        person appoint them again, then tries once more."""
        person, state = self._person(index)
        carer = self.population.acting_for(person)
        if carer is person:
            return self.api.call(
                kind, "citizen", method, path, headers=self._own(person), json=json, **kw
            )
        headers = {**self._own(carer), "On-Behalf-Of": state.person_id}
        answer = self.api.call(kind, "caregiver", method, path, headers=headers, json=json, **kw)
        expired = person.caregiver_until is not None and person.caregiver_until <= self.today
        # /v1/me/... answers 404 to a caregiver without an active delegation, but
        # POST /v1/me/folder answers 403 ``forbidden``: renew on either.
        if answer.status in (403, 404) and expired and not state.delegation_renewed:
            state.delegation_renewed = True
            self._appoint(person, until=None)
            answer = self.api.call(
                kind, "caregiver", method, path, headers=headers, json=json, **kw
            )
        return answer

    def register(self, event: Register) -> None:
        person, state = self._person(event.person)
        made = self.api.call(
            "register_person",
            "operator",
            "POST",
            "/v1/persons",
            headers=self.api.operator(),
            json={
                "name": person.name,
                "date_of_birth": person.date_of_birth.isoformat(),
                "password": person.password,
                "joined": person.joined,
            },
        )
        if not made.ok:
            raise ServerRefused(f"registering a person was refused: {made.outcome}")
        state.person_id = made.field("id")

    def appoint(self, event: AppointCaregiver) -> None:
        person, _ = self._person(event.person)
        self._appoint(person, person.caregiver_until)

    def _appoint(self, person: Person, until: date | None) -> None:
        assert person.caregiver is not None
        body: dict[str, Any] = {"caregiver_id": self.states[person.caregiver].person_id}
        if until is not None:
            body["expires_at"] = instant(until, MIDNIGHT).isoformat()
        self.api.call(
            "appoint_caregiver",
            "citizen",
            "POST",
            "/v1/me/caregivers",
            headers=self._own(person),
            json=body,
        )

    def give_consent(self, event: GiveConsent) -> None:
        self._consent(event.person, event.institution_id, event.kind, list(event.scopes))

    def _consent(self, index: int, iid: str, kind: str, scopes: list[str]) -> None:
        answer = self._as_person(
            index,
            "give_sharing_consent",
            "POST",
            "/v1/me/sharing-consents",
            {"institution_id": iid, "kind": kind, "scopes": scopes},
        )
        if answer.ok:
            self.states[index].consents[iid] = answer.field("id")

    def revoke_consent(self, event: RevokeConsent) -> None:
        consent = self.states[event.person].consents.get(event.institution_id)
        if consent is None:
            self.tally.skip("revocation_without_consent")
            return
        self._as_person(
            event.person, "revoke_sharing_consent", "DELETE", f"/v1/me/sharing-consents/{consent}"
        )

    def read_after_consent_revoked(self, event: RevokeConsent) -> None:
        actor, headers = self._staff(event.institution_id)
        pid = self.states[event.person].person_id
        self.api.call(
            "provider_read_after_revocation",
            actor,
            "GET",
            f"/v1/patients/{pid}/records",
            headers=headers,
        )

    # --- Hong Kong providers -------------------------------------------------------------

    def deposit_ehr(self, event: DepositEhr) -> None:
        person, state = self._person(event.person)
        actor, headers = self._staff(event.institution_id)
        title = f"{event.category.value.replace('_', ' ')} {event.clinical_date} #{event.person}"
        answer = self.api.call(
            "deposit_ehr",
            actor,
            "POST",
            f"/v1/patients/{state.person_id}/records",
            headers=headers,
            json={
                "category": event.category.value,
                "clinical_date": event.clinical_date.isoformat(),
                "title": title,
                "content": f"Synthetic {title} for {person.name} by {event.institution_id}.",
                "content_type": "text/plain",
            },
        )
        if answer.ok:
            state.records.append(
                KnownRecord(answer.field("id"), event.clinical_date, event.category.value)
            )
            self.tally.deposited(event.institution_id)

    def ask_restricted(self, event: ProviderView, view: _Context) -> None:
        actor, headers = self._staff(event.institution_id, event.profession)
        pid = self.states[event.person].person_id
        asked = self.api.call(
            "request_restricted_access",
            actor,
            "POST",
            f"/v1/patients/{pid}/restricted-access",
            headers=headers,
            json={"reason": RESTRICTED_REASON, "categories": ["radiology_report"]},
        )
        if not asked.ok:
            return
        view.request_id = asked.field("id")
        told = self._as_person(
            event.person, "read_notifications", "GET", "/v1/me/notifications", params={"limit": 20}
        )
        items = told.field("items") or []
        otps = [n["detail"] for n in items if n.get("event") == "restricted_access_otp"]
        view.otp = otps[0] if otps else None  # newest first: the one just sent

    def confirm_restricted(self, event: ProviderView, view: _Context) -> None:
        if view.request_id is None or view.otp is None:
            self.tally.skip("restricted_access_without_otp")
            return
        actor, headers = self._staff(event.institution_id, event.profession)
        pid = self.states[event.person].person_id
        path = f"/v1/patients/{pid}/restricted-access/{view.request_id}/confirm"
        if event.wrong_otp:
            wrong = f"{(int(view.otp) + 1) % 10**6:06d}"
            self.api.call("confirm_otp", actor, "POST", path, headers=headers, json={"otp": wrong})
        confirmed = self.api.call(
            "confirm_otp", actor, "POST", path, headers=headers, json={"otp": view.otp}
        )
        view.granted = confirmed.ok

    def open_folder(self, event: ProviderView) -> None:
        self._consent(event.person, event.institution_id, "indefinite", ["ehr", "personal_folder"])

    def provider_reads(self, event: ProviderView, view: _Context) -> None:
        if event.restricted and not view.granted:
            return
        actor, headers = self._staff(event.institution_id, event.profession)
        pid = self.states[event.person].person_id
        params: dict[str, Any] = {"limit": PAGE}
        if event.restricted:
            params["category"] = "radiology_report"
        if event.folder:
            params["source"] = "personal_folder"
        listed = self.api.call(
            "provider_list",
            actor,
            "GET",
            f"/v1/patients/{pid}/records",
            headers=headers,
            params=params,
        )
        items = _newest_first(listed.field("items") or [])
        if event.folder:
            items = [i for i in items if i["category"] == "radiology_images"] or items
        if not items:
            return
        opened = self.api.call(
            "provider_read_content",
            actor,
            "GET",
            f"/v1/patients/{pid}/records/{items[0]['id']}/content",
            headers=headers,
        )
        if opened.ok:
            self.tally.on(self.today, "hk_views")

    # --- the cross-border record ---------------------------------------------------------

    def apply(self, event: Apply) -> None:
        answer = self._as_person(
            event.person,
            "apply_cross_border",
            "POST",
            "/v1/me/cross-border-authorisations",
            {"institution_id": event.institution_id},
        )
        if answer.ok:
            self.states[event.person].authorisations[event.key] = Codes(
                answer.field("id"), answer.field("application_code"), answer.field("passcode")
            )
            self.tally.on(self.today, "applications")

    def _codes(self, index: int, key: str) -> Codes | None:
        codes = self.states[index].authorisations.get(key)
        if codes is None:
            self.tally.skip("scan_without_codes")
        return codes

    def _open(self, iid: str, role: str, code: str, passcode: str) -> Answer:
        actor, headers = self._staff(iid, role)
        return self.api.call(
            "open_session",
            actor,
            "POST",
            "/v1/cross-border/sessions",
            headers=headers,
            json={"application_code": code, "passcode": passcode},
        )

    def scan(self, event: Visit, visit: _Context) -> None:
        codes = self._codes(event.person, event.application)
        if codes is None:
            return
        doctor = Profession.DOCTOR.value
        if event.typo:
            self._open(event.institution_id, doctor, codes.application_code, WRONG_PASSCODE)
        opened = self._open(event.institution_id, doctor, codes.application_code, codes.passcode)
        if opened.ok:
            visit.session_id = opened.field("session_id")
            visit.visible_since = date.fromisoformat(opened.field("visible_since"))
            self.tally.on(self.today, "sessions")
            expected = self.policy.visible_since(self.today)
            if visit.visible_since != expected:
                raise ServerRefused(
                    f"the server applies another policy than {self.policy.path}: a session "
                    f"opened on {self.today} sees from {visit.visible_since}, the policy says "
                    f"{expected} (pass --policy with the file the server runs)"
                )

    def read_session(self, event: Visit, visit: _Context) -> None:
        if visit.session_id is None or visit.visible_since is None:
            return
        actor, headers = self._staff(event.institution_id)
        sessions = f"/v1/cross-border/sessions/{visit.session_id}/records"
        items = self._session_items(sessions, actor, headers)
        self._check_lookback(event.person, items, visit.visible_since)
        for item in _newest_first(items)[: event.views]:
            opened = self.api.call(
                "cross_border_read_content",
                actor,
                "GET",
                f"{sessions}/{item['id']}/content",
                headers=headers,
            )
            if opened.ok:
                self.tally.on(self.today, "cross_border_views")
        if event.probe:
            self._probe(event.person, sessions, actor, headers, visit.visible_since)
        if event.foreign_institution is not None:
            other, other_headers = self._staff(event.foreign_institution)
            self.api.call("foreign_session_read", other, "GET", sessions, headers=other_headers)
        if event.revoke_after:
            codes = self.states[event.person].authorisations[event.application]
            self._as_person(
                event.person,
                "revoke_cross_border",
                "DELETE",
                f"/v1/me/cross-border-authorisations/{codes.authorisation_id}",
            )
            self.api.call("read_after_revocation", actor, "GET", sessions, headers=headers)

    def _session_items(self, path: str, actor: str, headers: Headers) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            page = self.api.call(
                "cross_border_list", actor, "GET", path, headers=headers, params=params
            )
            if not page.ok:
                return items
            items += page.field("items") or []
            cursor = page.field("next_cursor")
            if not cursor:
                return items

    def _check_lookback(self, index: int, items: list[dict[str, Any]], since: date) -> None:
        """Every listed record must be an eHR dated in the lookback; count what the
        lookback hid of the records this person is known to have."""
        today = self.today
        wrong = [
            i
            for i in items
            if i["source"] != "ehr" or not since <= date.fromisoformat(i["clinical_date"]) <= today
        ]
        known = self.states[index].records
        self.tally.seen("records_listed", len(items))
        self.tally.seen("lookback_violations", len(wrong))
        self.tally.seen("hidden_by_lookback", sum(r.clinical_date < since for r in known))
        self.tally.listed(i["id"] for i in items)

    def _probe(self, index: int, sessions: str, actor: str, headers: Headers, since: date) -> None:
        old = sorted(
            (r for r in self.states[index].records if r.clinical_date < since),
            key=lambda r: (r.clinical_date, r.category),
        )
        if not old:
            self.tally.skip("lookback_probe_without_old_record")
            return
        self.api.call("lookback_probe", actor, "GET", f"{sessions}/{old[-1].id}", headers=headers)

    def foreign_scan(self, event: ForeignScan) -> None:
        codes = self._codes(event.person, event.application)
        if codes is not None:
            role = Profession.DOCTOR.value
            self._open(event.institution_id, role, codes.application_code, codes.passcode)

    def attack(self, event: Attack) -> None:
        codes = self._codes(event.person, event.application)
        if codes is None:
            return
        for n in range(event.attempts):
            guess = f"{WRONG_PASSCODE[:-2]}{n:02d}"
            self._open(event.institution_id, ATTACKER, codes.application_code, guess)

    # --- the Personal Folder and radiology -----------------------------------------------

    def upload(self, event: UploadToFolder) -> None:
        person = self.population.people[event.person]
        institution = self.policy.institutions.get(event.source)
        where = institution.name if institution else "a hospital in the Mainland"
        title = f"{event.category.value.replace('_', ' ')} from {where}"
        answer = self._as_person(
            event.person,
            "folder_upload",
            "POST",
            "/v1/me/folder",
            {
                "category": event.category.value,
                "clinical_date": event.clinical_date.isoformat(),
                "title": title,
                "content": f"Synthetic {title} for {person.name}.",
                "content_type": "text/plain",
            },
        )
        if answer.ok:
            self.tally.filed(event.source if institution else ELSEWHERE)
            self.tally.on(self.today, "folder_uploads")

    def authorise_radiology(self, event: AuthoriseRadiology) -> None:
        answer = self._as_person(
            event.person,
            "authorise_radiology",
            "POST",
            "/v1/me/radiology-authorisations",
            {"institution_id": event.institution_id},
        )
        if answer.ok:
            self.states[event.person].radiology_codes[event.key] = answer.field(
                "authorisation_code"
            )

    def open_deposit(self, event: DepositRadiology, deposit: _Context) -> None:
        code = self.states[event.person].radiology_codes.get(event.authorisation)
        if code is None:
            self.tally.skip("deposit_without_code")
            return
        actor, headers = self._staff(event.institution_id, Profession.RADIOGRAPHER)
        opened = self.api.call(
            "open_radiology_deposit",
            actor,
            "POST",
            "/v1/radiology/deposits",
            headers=headers,
            json={"authorisation_code": code, "clinical_date": self.today.isoformat()},
        )
        if opened.ok:
            deposit.deposit_id = opened.field("deposit_id")

    def upload_study(self, event: DepositRadiology, deposit: _Context) -> None:
        if deposit.deposit_id is None:
            return
        person = self.population.people[event.person]
        actor, headers = self._staff(event.institution_id, Profession.RADIOGRAPHER)
        files = f"/v1/radiology/deposits/{deposit.deposit_id}/files"
        study = Study(
            patient_name=person.dicom_name,
            patient_id=f"SIM-{person.index:06d}",
            study_date=self.today.strftime("%Y%m%d"),
        )
        stored = 0
        for n in range(event.instances):
            put = self.api.call(
                "upload_dicom",
                actor,
                "PUT",
                f"{files}/ct-{n + 1}.dcm",
                headers={**headers, "Content-Type": "application/dicom"},
                content=instance(study),
            )
            stored += put.ok
        report = f"CT {study.body_part}: no acute abnormality. Synthetic report.".encode()
        put = self.api.call(
            "upload_report",
            actor,
            "PUT",
            f"{files}/report.txt",
            headers={**headers, "Content-Type": "text/plain"},
            content=report,
        )
        stored += put.ok
        done = self.api.call(
            "complete_radiology_deposit",
            actor,
            "POST",
            f"/v1/radiology/deposits/{deposit.deposit_id}/complete",
            headers=headers,
        )
        if done.ok:
            self.tally.deposited(event.institution_id, stored)
            self.tally.on(self.today, "radiology_deposits")

    # --- reading the server's own account back ---------------------------------------------

    def collect(self, at: datetime, on_person: Callable[[], None] = lambda: None) -> None:
        """Read every person's notifications and access log (the audit entries about
        them) as they would in the app, counting what happened before ``at``. Reading
        them is itself audited; those entries (at or after ``at``) are left out."""
        self.api.set_clock(at)

        def one(index: int) -> None:
            if self.stop.is_set():
                return
            person, _ = self._person(index)
            headers = self._own(person)
            for item in self._pages("collect_notifications", "/v1/me/notifications", headers):
                if _at(item) < at:
                    self.tally.notified(str(item["event"]))
            for item in self._pages("collect_access_log", "/v1/me/access-log", headers):
                if _at(item) < at:
                    self.tally.audited(
                        str(item["actor_kind"]), bool(item["allowed"]), str(item["reason"])
                    )
            on_person()

        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="collect")
        try:
            for future in [pool.submit(one, n) for n in range(len(self.states))]:
                future.result()
        except KeyboardInterrupt:
            self.stop.set()
            raise Interrupted from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.tally.audit_collected = not self.stop.is_set()

    def _pages(self, kind: str, path: str, headers: Headers) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            page = self.api.call(kind, "citizen", "GET", path, headers=headers, params=params)
            if not page.ok:
                raise ServerRefused(f"reading {path} back was refused: {page.outcome}")
            yield from page.field("items") or []
            cursor = page.field("next_cursor")
            if not cursor:
                return


def _staff_of(event: Event) -> list[tuple[str, str]]:
    """The professionals ``event`` needs: (institution id, profession or ATTACKER)."""
    doctor = Profession.DOCTOR.value
    match event:
        case RevokeConsent() | DepositEhr() | ForeignScan():
            return [(event.institution_id, doctor)]
        case Visit():
            foreign = event.foreign_institution
            return [(event.institution_id, doctor)] + ([(foreign, doctor)] if foreign else [])
        case Attack():
            return [(event.institution_id, ATTACKER)]
        case ProviderView():
            return [(event.institution_id, event.profession.value)]
        case DepositRadiology():
            return [(event.institution_id, Profession.RADIOGRAPHER.value)]
    return []


def _citizen_acts(event: Event) -> bool:
    """Whether the person (or their caregiver) makes a call during ``event``'s day."""
    match event:
        case GiveConsent() | RevokeConsent() | Apply() | AuthoriseRadiology() | UploadToFolder():
            return True
        case Visit():
            return event.revoke_after
        case ProviderView():
            return event.restricted or event.folder
    return False


def _at(item: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest clinical date first; ties by category and title (never by the server's
    random ids), so that which record is opened does not depend on them."""
    ordered = sorted(items, key=lambda i: (i["category"], i["title"]))
    return sorted(ordered, key=lambda i: i["clinical_date"], reverse=True)
