"""A mixed workload against a running ``crossvault serve``, for test_mixed_load.py.

Eight clients (one keep-alive connection each, the benchmarks' concurrency) each own a
few people and, for a set time, pick operations at random by weight:

* reads — the person's own list and records and notifications; a Hong Kong provider with
  implied sharing (HA) listing and opening records; one holding sharing consent (hksh),
  whose answer follows the consent the same client grants and revokes; a Mainland
  professional listing and opening records in a viewing session, whose answer follows
  the cross-border authorisation the same client grants and revokes;
* writes — granting (replacing) and revoking sharing consents; applying for and
  revoking cross-border authorisations (each new one opens a viewing session, each
  revocation is followed by a read that must find the session gone, R8); HA eHR
  deposits; Personal Folder uploads; radiology deposits (authorisation, open, a report
  and a DICOM image, complete).

Because each person's state is changed only by the client that owns them, every answer
is predictable: any other status is an *unexpected* answer (a 5xx is one, and is also
counted apart). Each client remembers what its 2xx writes promised — records and their
contents, consents and authorisations and whether they are in force — for
:func:`verify` to check afterwards.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from sim.onboarding import Onboarding, client_form
from sim.server import OPERATOR_SECRET
from sim.studies import Study, instance

PASSWORD = "load-password-0123456789"
PERSON_NAME = "Chan Tai Man"  # the DICOM patient name must match the person's
DICOM_NAME = "CHAN^TAI MAN"
CLIENTS = 8  # as sim/benchmarks/api.py
PEOPLE_PER_CLIENT = 2
REQUEST_TIMEOUT = 30.0
SESSION_REUSE = 100 * 60.0  # viewing sessions last two hours
HA, CONSENTED, VIEWER, DEPOSITOR = "ha", "hksh", "hku_sz", "zhongshan_chen_xinghai"
TODAY = date(2026, 3, 2)  # the server's simulated clock starts on this (HK) day


class Login:
    """A token obtained with ``form``, obtained again when the server says 401."""

    def __init__(self, http: httpx.Client, form: dict[str, str]) -> None:
        self.http, self.form = http, form
        self._headers: dict[str, str] | None = None

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self.refresh()
        assert self._headers is not None
        return self._headers

    def refresh(self) -> None:
        r = self.http.post("/v1/auth/token", data=self.form)
        r.raise_for_status()
        self._headers = {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass
class Stats:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # transport failures, timeouts

    def merge(self, other: Stats) -> None:
        for kind, values in other.latencies_ms.items():
            self.latencies_ms.setdefault(kind, []).extend(values)
        self.statuses.update(other.statuses)
        self.unexpected += other.unexpected
        self.errors += other.errors

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies_ms.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def figures(stats: Stats, seconds: float) -> dict[str, Any]:
    """Requests by kind, req/s, p50/p99 (ms), overall and per kind."""
    every = [v for values in stats.latencies_ms.values() for v in values]
    return {
        "seconds": round(seconds, 1),
        "requests": len(every),
        "requests_per_second": round(len(every) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(statistics.median(every), 1) if every else None,
        "p99_ms": round(percentile(every, 99), 1) if every else None,
        "max_ms": round(max(every), 1) if every else None,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "by_kind": {
            kind: {
                "requests": len(values),
                "p50_ms": round(statistics.median(values), 1),
                "p99_ms": round(percentile(values, 99), 1),
            }
            for kind, values in sorted(stats.latencies_ms.items())
        },
    }


# -- what the clients promise --------------------------------------------------------------------


@dataclass
class Person:
    id: str
    login: Login
    ehr: dict[str, bytes] = field(default_factory=dict)  # record id -> content (HA eHRs)
    folder: dict[str, bytes] = field(default_factory=dict)  # the person's own uploads
    radiology: list[str] = field(default_factory=list)  # SHA-256 of deposited files
    deposits: list[str] = field(default_factory=list)  # completed radiology deposits
    consents: dict[str, bool] = field(default_factory=dict)  # id -> in force?
    consent: str | None = None  # the hksh consent in force
    authorisations: dict[str, bool] = field(default_factory=dict)  # id -> in force?
    authorisation: str | None = None  # the latest one in force, with...
    session: str | None = None  # ...the viewing session opened with it...
    session_opened: float = 0.0  # ...at this time.monotonic()

    @property
    def records(self) -> dict[str, bytes]:
        return {**self.ehr, **self.folder}


@dataclass
class Credentials:
    """Per institution, its admin's and its professionals' client credentials (made once,
    shared by every client)."""

    admins: dict[str, tuple[str, str]]
    clients: dict[str, tuple[str, str]]

    def professional(self, http: httpx.Client, iid: str, profession: str) -> Login:
        """A professional registered by ``iid``'s admin; their login."""
        admin = Login(http, client_form(*self.admins[iid])).headers()
        r = http.post(
            f"/v1/institutions/{iid}/professionals",
            headers=admin,
            json={"name": "Dr Load", "profession": profession},
        )
        r.raise_for_status()
        return Login(http, client_form(*self.clients[iid], professional_id=r.json()["id"]))


def operator_login(http: httpx.Client) -> Login:
    return Login(
        http,
        {
            "grant_type": "client_credentials",
            "client_id": "operator",
            "client_secret": OPERATOR_SECRET,
        },
    )


def prepare(base: str) -> Credentials:
    """Set the simulated clock to :data:`TODAY` (10:00 in Hong Kong) and onboard the
    institutions (two operators), which issue their client credentials."""
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as http:
        operator = operator_login(http).headers()
        clock = http.post(
            "/v1/admin/clock", headers=operator, json={"set_to": f"{TODAY}T02:00:00+00:00"}
        )
        clock.raise_for_status()
        staff = Onboarding(http)
        for iid in (HA, CONSENTED, VIEWER, DEPOSITOR):
            staff.client(iid)
        return Credentials(staff.admins, staff.clients)


# -- one client ---------------------------------------------------------------------------------


class Client:
    """One connection, its professionals, its people and its statistics."""

    def __init__(self, base: str, credentials: Credentials, seed: int) -> None:
        self.http = httpx.Client(
            base_url=base,
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.seq = 0
        self.ha = credentials.professional(self.http, HA, "doctor")
        self.consented = credentials.professional(self.http, CONSENTED, "doctor")
        self.viewer = credentials.professional(self.http, VIEWER, "doctor")
        self.depositor = credentials.professional(self.http, DEPOSITOR, "radiographer")
        self.people = [self._person() for _ in range(PEOPLE_PER_CLIENT)]

    def close(self) -> None:
        self.http.close()

    # the plumbing

    def call(
        self,
        kind: str,
        login: Login,
        method: str,
        url: str,
        expect: set[int],
        **kwargs: Any,
    ) -> httpx.Response | None:
        headers = {**login.headers(), **kwargs.pop("headers", {})}
        started = time.perf_counter()
        try:
            r = self.http.request(method, url, headers=headers, **kwargs)
            if r.status_code == 401:  # the token expired (long runs): log in again, once
                login.refresh()
                headers.update(login.headers())
                r = self.http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            self.stats.errors.append(f"{kind}: {type(error).__name__} {error}")
            return None
        self.stats.latencies_ms.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        self.stats.statuses[r.status_code] += 1
        if r.status_code not in expect:
            self.stats.unexpected.append(f"{kind}: {r.status_code} {r.text[:300]}")
            return None
        return r

    def _content(self, kind: str) -> bytes:
        self.seq += 1
        return f"{kind} #{self.seq} {self.rng.getrandbits(64):016x}".encode()

    def _check(self, kind: str, r: httpx.Response | None, expected: bytes) -> None:
        if r is not None and r.status_code == 200 and r.content != expected:
            self.stats.unexpected.append(f"{kind}: content differs")

    # set-up: a person with eHRs, a sharing consent to hksh and a viewing session

    def _person(self) -> Person:
        r = self.http.post(
            "/v1/persons",
            json={
                "name": PERSON_NAME,
                "date_of_birth": "1960-01-01",
                "password": PASSWORD,
                "joined": True,
            },
        )
        r.raise_for_status()
        pid = r.json()["id"]
        person = Person(
            pid, Login(self.http, {"grant_type": "password", "username": pid, "password": PASSWORD})
        )
        for _ in range(3):
            self.deposit_ehr(person)
        self.grant_consent(person)
        self.grant_cross_border(person)
        return person

    # reads

    def list_own(self, p: Person) -> None:
        self.call(
            "citizen: list records", p.login, "GET", "/v1/me/records", {200}, params={"limit": 20}
        )

    def open_own(self, p: Person) -> None:
        rid = self.rng.choice(list(p.records))
        kind = "citizen: open record"
        r = self.call(kind, p.login, "GET", f"/v1/me/records/{rid}/content", {200})
        self._check(kind, r, p.records[rid])

    def notifications(self, p: Person) -> None:
        self.call(
            "citizen: notifications",
            p.login,
            "GET",
            "/v1/me/notifications",
            {200},
            params={"limit": 20},
        )

    def ha_list(self, p: Person) -> None:
        self.call(
            "HK (HA): list records",
            self.ha,
            "GET",
            f"/v1/patients/{p.id}/records",
            {200},
            params={"limit": 20},
        )

    def ha_open(self, p: Person) -> None:
        rid = self.rng.choice(list(p.ehr))
        kind = "HK (HA): open record"
        r = self.call(kind, self.ha, "GET", f"/v1/patients/{p.id}/records/{rid}/content", {200})
        self._check(kind, r, p.ehr[rid])

    def consented_list(self, p: Person) -> None:
        expect = {200} if p.consent else {404}
        self.call(
            "HK (consent): list records",
            self.consented,
            "GET",
            f"/v1/patients/{p.id}/records",
            expect,
            params={"limit": 20},
        )

    def _needs_session(self, p: Person) -> bool:
        """Open a new session instead of reading if there is none (or it is near its
        two hours: long runs)."""
        if p.session is None or time.monotonic() - p.session_opened > SESSION_REUSE:
            self.grant_cross_border(p)
            return True
        return False

    def mainland_list(self, p: Person) -> None:
        if self._needs_session(p):
            return
        url = f"/v1/cross-border/sessions/{p.session}/records"
        self.call("Mainland: list session", self.viewer, "GET", url, {200}, params={"limit": 20})

    def mainland_open(self, p: Person) -> None:
        if self._needs_session(p):
            return
        rid = self.rng.choice(list(p.ehr))
        kind = "Mainland: open record"
        url = f"/v1/cross-border/sessions/{p.session}/records/{rid}/content"
        self._check(kind, self.call(kind, self.viewer, "GET", url, {200}), p.ehr[rid])

    # writes

    def grant_consent(self, p: Person) -> None:
        body = {"institution_id": CONSENTED, "kind": "indefinite", "scopes": ["ehr"]}
        r = self.call(
            "consent: grant", p.login, "POST", "/v1/me/sharing-consents", {201}, json=body
        )
        if r is not None:
            if p.consent:
                p.consents[p.consent] = False  # replaced, revoked at the same instant
            p.consent = r.json()["id"]
            p.consents[p.consent] = True

    def revoke_consent(self, p: Person) -> None:
        if p.consent is None:
            self.grant_consent(p)
            return
        url = f"/v1/me/sharing-consents/{p.consent}"
        if self.call("consent: revoke", p.login, "DELETE", url, {204}) is not None:
            p.consents[p.consent] = False
            p.consent = None

    def grant_cross_border(self, p: Person) -> None:
        body = {"institution_id": VIEWER}
        r = self.call(
            "cross-border: apply",
            p.login,
            "POST",
            "/v1/me/cross-border-authorisations",
            {201},
            json=body,
        )
        if r is None:
            return
        p.authorisations[r.json()["id"]] = True
        pair = {k: r.json()[k] for k in ("application_code", "passcode")}
        opened = self.call(
            "Mainland: open session",
            self.viewer,
            "POST",
            "/v1/cross-border/sessions",
            {201},
            json=pair,
        )
        if opened is not None:
            p.authorisation, p.session = r.json()["id"], opened.json()["session_id"]
            p.session_opened = time.monotonic()

    def revoke_cross_border(self, p: Person) -> None:
        if p.authorisation is None:
            self.grant_cross_border(p)
            return
        url = f"/v1/me/cross-border-authorisations/{p.authorisation}"
        if self.call("cross-border: revoke", p.login, "DELETE", url, {204}) is None:
            return
        p.authorisations[p.authorisation] = False
        ended, p.authorisation, p.session = p.session, None, None
        # R8: the session ends with its authorisation, at once
        gone = f"/v1/cross-border/sessions/{ended}/records"
        self.call("Mainland: list after revocation", self.viewer, "GET", gone, {404})

    def deposit_ehr(self, p: Person) -> None:
        content = self._content("eHR")
        day = TODAY - timedelta(days=self.rng.randrange(1, 3 * 365 - 2))
        body = {
            "category": self.rng.choice(["lab_report", "medication", "clinical_note", "allergy"]),
            "clinical_date": day.isoformat(),
            "title": "Load eHR",
            "content": content.decode(),
            "content_type": "text/plain",
        }
        r = self.call(
            "deposit: eHR (HA)", self.ha, "POST", f"/v1/patients/{p.id}/records", {201}, json=body
        )
        if r is not None:
            p.ehr[r.json()["id"]] = content

    def upload_to_folder(self, p: Person) -> None:
        content = self._content("folder")
        body = {
            "category": "document",
            "clinical_date": (TODAY - timedelta(days=self.rng.randrange(1, 900))).isoformat(),
            "title": "Load folder document",
            "content": content.decode(),
            "content_type": "text/plain",
        }
        r = self.call("deposit: folder upload", p.login, "POST", "/v1/me/folder", {201}, json=body)
        if r is not None:
            p.folder[r.json()["id"]] = content

    def deposit_radiology(self, p: Person) -> None:
        body = {"institution_id": DEPOSITOR}
        r = self.call(
            "radiology: authorise",
            p.login,
            "POST",
            "/v1/me/radiology-authorisations",
            {201},
            json=body,
        )
        if r is None:
            return
        code = {"authorisation_code": r.json()["authorisation_code"]}
        opened = self.call(
            "radiology: open deposit",
            self.depositor,
            "POST",
            "/v1/radiology/deposits",
            {201},
            json=code,
        )
        if opened is None:
            return
        deposit = opened.json()["deposit_id"]
        files = {
            "report.txt": (self._content("radiology report"), "text/plain"),
            "image.dcm": (instance(Study(patient_name=DICOM_NAME)), "application/dicom"),
        }
        for name, (content, media_type) in files.items():
            put = self.call(
                "radiology: put file",
                self.depositor,
                "PUT",
                f"/v1/radiology/deposits/{deposit}/files/{name}",
                {201},
                content=content,
                headers={"Content-Type": media_type},
            )
            if put is None:
                return
        url = f"/v1/radiology/deposits/{deposit}/complete"
        if self.call("radiology: complete", self.depositor, "POST", url, {200}) is not None:
            p.deposits.append(deposit)
            p.radiology += [hashlib.sha256(c).hexdigest() for c, _ in files.values()]

    # the loop

    def operations(self) -> list[tuple[Callable[[Person], None], int]]:
        return [
            (self.list_own, 8),
            (self.open_own, 8),
            (self.notifications, 4),
            (self.ha_list, 8),
            (self.ha_open, 8),
            (self.consented_list, 8),
            (self.mainland_list, 8),
            (self.mainland_open, 8),
            (self.grant_consent, 6),
            (self.revoke_consent, 6),
            (self.grant_cross_border, 5),
            (self.revoke_cross_border, 5),
            (self.deposit_ehr, 8),
            (self.upload_to_folder, 6),
            (self.deposit_radiology, 4),
        ]

    def run(self, until: float) -> None:
        ops = self.operations()
        functions = [f for f, _ in ops]
        weights = [w for _, w in ops]
        while time.monotonic() < until:
            operation = self.rng.choices(functions, weights)[0]
            try:
                operation(self.rng.choice(self.people))
            except Exception as error:  # a bug in the client must not look like a hang
                self.stats.errors.append(f"{operation.__name__}: {type(error).__name__} {error}")


def run_clients(clients: list[Client], seconds: float) -> tuple[Stats, float, list[str]]:
    """Every client until ``seconds`` from now. Returns the merged statistics of this
    phase, its length, and the clients that did not finish in time (hangs)."""
    before = [c.stats for c in clients]
    for client in clients:
        client.stats = Stats()
    until = time.monotonic() + seconds
    started = time.perf_counter()
    threads = [threading.Thread(target=c.run, args=(until,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    hung = []
    for index, thread in enumerate(threads):
        thread.join(timeout=max(0.0, until - time.monotonic()) + REQUEST_TIMEOUT * 2)
        if thread.is_alive():
            hung.append(f"client {index}")
    elapsed = time.perf_counter() - started
    merged = Stats()
    for client, earlier in zip(clients, before, strict=True):
        merged.merge(client.stats)
        earlier.merge(client.stats)
        client.stats = earlier
    return merged, elapsed, hung


# -- after the run ------------------------------------------------------------------------------


def _pages(http: httpx.Client, path: str, headers: dict[str, str]) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = http.get(path, headers=headers, params=params)
        r.raise_for_status()
        yield from r.json()["items"]
        cursor = r.json().get("next_cursor")
        if not cursor:
            return


def verify(base: str, people: list[Person]) -> list[str]:
    """Every 2xx write is there: each record listed and opening to what was sent, each
    radiology deposit's files in the folder; each consent and authorisation listed,
    in force exactly when it should be. Returns what is wrong."""

    def one(person: Person) -> list[str]:
        with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as http:
            me = Login(http, dict(person.login.form)).headers()
            return [
                *_records_problems(http, me, person),
                *_consent_problems(http, me, person),
                *_authorisation_problems(http, me, person),
            ]

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return [p for found in pool.map(one, people) for p in found]


def _records_problems(http: httpx.Client, me: dict[str, str], person: Person) -> list[str]:
    problems: list[str] = []
    listed = {r["id"]: r for r in _pages(http, "/v1/me/records", me)}
    for rid, content in person.records.items():
        if rid not in listed:
            problems.append(f"{person.id}: record {rid} not listed")
            continue
        opened = http.get(f"/v1/me/records/{rid}/content", headers=me)
        if opened.status_code != 200 or opened.content != content:
            problems.append(f"{person.id}: record {rid} opens as {opened.status_code}")
    deposited = Counter(
        hashlib.sha256(http.get(f"/v1/me/records/{rid}/content", headers=me).content).hexdigest()
        for rid, r in listed.items()
        if r["depositor_institution_id"] == DEPOSITOR
    )
    if deposited != Counter(person.radiology):
        problems.append(f"{person.id}: radiology files {deposited} != sent")
    return problems


def _consent_problems(http: httpx.Client, me: dict[str, str], person: Person) -> list[str]:
    problems: list[str] = []
    consents = {c["id"]: c for c in _pages(http, "/v1/me/sharing-consents", me)}
    for cid, active in person.consents.items():
        if cid not in consents or consents[cid]["active"] is not active:
            problems.append(f"{person.id}: consent {cid} should be active={active}")
    if sum(c["active"] for c in consents.values()) != sum(person.consents.values()):
        problems.append(f"{person.id}: consents in force differ")
    return problems


def _authorisation_problems(http: httpx.Client, me: dict[str, str], person: Person) -> list[str]:
    authorisations = {a["id"]: a for a in _pages(http, "/v1/me/cross-border-authorisations", me)}
    problems: list[str] = []
    for aid, active in person.authorisations.items():
        status = authorisations.get(aid, {}).get("status")
        if (status == "active") is not active or status is None:
            problems.append(f"{person.id}: authorisation {aid} is {status}")
    return problems


def rss_kib(pid: int) -> int:
    """The process's resident set size (``VmRSS`` in /proc/PID/status), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class RssSampler:
    """Samples a process's RSS every ``every`` seconds in a thread (the peak)."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(rss_kib(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
