"""Client load against a server that is about to be SIGKILLed, a ledger of what each
request was answered, and the checks a restarted server must pass.

Every request that would create something is written into the :class:`Ledger` *before*
it is sent, with the exact bytes sent, and its outcome afterwards:

* ``ok`` — the server answered 2xx: the thing must exist after any later crash;
* ``refused`` — a 4xx: it must not exist;
* ``not_sent`` — the connection could not even be made (``httpx.ConnectError``): the
  server never saw it, it must not exist;
* ``unknown`` — sent, but no answer came (the server died): it may exist or not, but
  *wholly*: listed and opening byte-identical, or absent.

Plaintext contents, titles and DICOM PatientIDs all carry a canary string, so a scan of
the data directory (and of every column of every table) for it finds any plaintext that
reached storage — a half-written temporary, a stray log line.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import SQLModel

from sim.studies import Study, instance
from tests.security.support_servers import (
    DICOM_NAME,
    RADIOLOGY_INSTITUTION,
    Deployment,
    Person,
    Population,
    Server,
    all_records,
    files_containing,
    http_client,
)

OK, REFUSED, NOT_SENT, UNKNOWN, SENDING = "ok", "refused", "not_sent", "unknown", "sending"
EHR_CATEGORIES = ("lab_report", "clinical_note", "medication", "encounter")
FOLDER_CATEGORIES = ("document", "lab_report", "diagnosis_procedure")
# DICOM sizes (rows = columns): 128 B, 128 KiB or 2 MiB of pixels; the last spans
# several 1 MiB sealed chunks, so a kill can land in the middle of its stream.
DICOM_SIDES = (8, 8, 256, 1024)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _outcome(error: Exception) -> str:
    return NOT_SENT if isinstance(error, httpx.ConnectError) else UNKNOWN


# --- the ledger -----------------------------------------------------------------------------


@dataclass
class Deposit:
    """One request that makes one record (an eHR deposit or a folder upload)."""

    kind: str
    person_id: str
    title: str
    content: bytes
    outcome: str = SENDING
    record_id: str | None = None


@dataclass
class StudyDeposit:
    """One radiology deposit: the files the server acknowledged, and how ``complete``
    went (``not_sent`` also when the client never got as far as sending it)."""

    person_id: str
    files: dict[str, bytes] = field(default_factory=dict)
    deposit_id: str | None = None
    complete: str = NOT_SENT


@dataclass
class NewPerson:
    """A ``POST /v1/persons`` (made during key rotation)."""

    outcome: str = SENDING
    person_id: str | None = None


@dataclass
class Ledger:
    canary: str
    deposits: list[Deposit] = field(default_factory=list)
    studies: list[StudyDeposit] = field(default_factory=list)
    new_persons: list[NewPerson] = field(default_factory=list)
    read_request_ids: list[str] = field(default_factory=list)  # answered 2xx
    problems: list[str] = field(default_factory=list)  # must stay empty
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Any) -> None:
        with self.lock:
            self.requests += 1
            if isinstance(item, Deposit):
                self.deposits.append(item)
            elif isinstance(item, StudyDeposit):
                self.studies.append(item)
            elif isinstance(item, NewPerson):
                self.new_persons.append(item)

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def read_ok(self, request_id: str) -> None:
        with self.lock:
            self.requests += 1
            self.read_request_ids.append(request_id)

    def contents_of(self, person_id: str) -> dict[str, tuple[str, Any]]:
        """sha256 → (kind, ledger item) for everything sent for the person that could
        have become a record, an answer still on its way included: a reader may see a
        deposit committed before its depositor has the 201."""
        found: dict[str, tuple[str, Any]] = {}
        with self.lock:  # load threads add deposits and study files meanwhile
            deposits = list(self.deposits)
            studies = [(s, list(s.files.values())) for s in self.studies]
        for d in deposits:
            if d.person_id == person_id and d.outcome in (OK, UNKNOWN, SENDING):
                found[digest(d.content)] = ("deposit", d)
        for s, contents in studies:
            if s.person_id == person_id:
                for content in contents:
                    found[digest(content)] = ("study", s)
        return found


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Worker:
    """What a load thread gets: its own HTTP client and random stream."""

    http: httpx.Client
    rng: random.Random
    stop: threading.Event
    ledger: Ledger
    population: Population
    name: str
    counter: int = 0

    def next_id(self) -> str:
        self.counter += 1
        return f"{self.name}-{self.counter}"

    def person(self) -> Person:
        return self.rng.choice(self.population.persons)

    def text(self, what: str) -> tuple[str, bytes]:
        """A title and a content, both carrying the canary and a unique id."""
        ident = self.next_id()
        title = f"{self.ledger.canary} {what} {ident}"
        filler = "".join(self.rng.choices("abcdefghij klmnop\n", k=self.rng.randint(20, 4000)))
        return title, f"{self.ledger.canary} {what} {ident}\n{filler}".encode()

    def checked(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code >= 500:
            self.ledger.problem(f"{what}: {response.status_code} {response.text[:200]}")
        return response


Task = Callable[[Worker], None]


def depositing(kind: str) -> Task:
    """HK eHR deposits (``ehr``) or Personal Folder uploads (``folder``), back to back."""

    def run(w: Worker) -> None:
        while not w.stop.is_set():
            person = w.person()
            title, content = w.text(kind)
            categories = EHR_CATEGORIES if kind == "ehr" else FOLDER_CATEGORIES
            body = {
                "category": w.rng.choice(categories),
                "clinical_date": f"2025-{w.rng.randint(1, 12):02d}-{w.rng.randint(1, 28):02d}",
                "title": title,
                "content": content.decode(),
                "content_type": "text/plain",
            }
            deposit = Deposit(kind, person.id, title, content)
            w.ledger.add(deposit)
            url, headers = (
                (f"/v1/patients/{person.id}/records", w.population.doctor)
                if kind == "ehr"
                else ("/v1/me/folder", person.headers)
            )
            try:
                r = w.checked(w.http.post(url, headers=headers, json=body), kind)
            except httpx.HTTPError as error:
                deposit.outcome = _outcome(error)
                return
            deposit.outcome = OK if r.status_code == 201 else REFUSED
            if r.status_code == 201:
                deposit.record_id = r.json()["id"]
            else:
                w.ledger.problem(f"{kind} deposit refused: {r.status_code} {r.text[:200]}")

    return run


def radiology(w: Worker) -> None:
    """Radiology deposits: authorisation code, open, one or two files, complete."""
    study = Study(patient_name=DICOM_NAME, patient_id=w.ledger.canary[:64])
    while not w.stop.is_set():
        person = w.person()
        deposit = StudyDeposit(person.id)
        w.ledger.add(deposit)
        try:
            r = w.checked(
                w.http.post(
                    "/v1/me/radiology-authorisations",
                    headers=person.headers,
                    json={"institution_id": RADIOLOGY_INSTITUTION},
                ),
                "radiology authorisation",
            )
            if r.status_code != 201:
                return w.ledger.problem(f"authorisation: {r.status_code} {r.text[:200]}")
            r = w.checked(
                w.http.post(
                    "/v1/radiology/deposits",
                    headers=w.population.radiographer,
                    json={"authorisation_code": r.json()["authorisation_code"]},
                ),
                "radiology deposit",
            )
            if r.status_code != 201:
                return w.ledger.problem(f"open deposit: {r.status_code} {r.text[:200]}")
            deposit.deposit_id = r.json()["deposit_id"]
            for index in range(w.rng.randint(1, 2)):
                side = w.rng.choice(DICOM_SIDES)
                content = instance(study, rows=side, columns=side)
                name = f"i{index}.dcm"
                r = w.checked(
                    w.http.put(
                        f"/v1/radiology/deposits/{deposit.deposit_id}/files/{name}",
                        headers={**w.population.radiographer, "Content-Type": "application/dicom"},
                        content=content,
                    ),
                    "radiology file",
                )
                if r.status_code != 201:
                    return w.ledger.problem(f"file: {r.status_code} {r.text[:200]}")
                with w.ledger.lock:  # contents_of reads the files under the same lock
                    deposit.files[name] = content
            deposit.complete = SENDING
            try:
                r = w.checked(
                    w.http.post(
                        f"/v1/radiology/deposits/{deposit.deposit_id}/complete",
                        headers=w.population.radiographer,
                    ),
                    "radiology complete",
                )
            except httpx.HTTPError as error:
                deposit.complete = _outcome(error)
                return
            deposit.complete = OK if r.status_code == 200 else REFUSED
            if r.status_code != 200:
                return w.ledger.problem(f"complete: {r.status_code} {r.text[:200]}")
        except httpx.HTTPError:
            return


def reading(w: Worker) -> None:
    """Reads that each append to the audit log: the person's list and contents, an HA
    doctor's list and contents, and reads of records that do not exist (audited
    refusals). Every 2xx must be backed by its audit entry (R11), found by request id."""
    while not w.stop.is_set():
        person = w.person()
        try:
            request_id = w.next_id()
            as_doctor = w.rng.random() < 0.3
            url, headers = (
                (f"/v1/patients/{person.id}/records", w.population.doctor)
                if as_doctor
                else ("/v1/me/records", person.headers)
            )
            r = w.checked(
                w.http.get(
                    url, headers={**headers, "X-Request-Id": request_id}, params={"limit": 20}
                ),
                "list",
            )
            if r.status_code != 200:
                w.ledger.problem(f"list: {r.status_code} {r.text[:200]}")
                continue
            w.ledger.read_ok(request_id)
            items = r.json()["items"]
            target = w.rng.choice(items)["id"] if items and w.rng.random() < 0.8 else "0" * 32
            request_id = w.next_id()
            r = w.checked(
                w.http.get(
                    f"{url}/{target}/content", headers={**headers, "X-Request-Id": request_id}
                ),
                "content",
            )
            if r.status_code == 200:
                w.ledger.read_ok(request_id)
                if digest(r.content) not in w.ledger.contents_of(person.id):
                    w.ledger.problem(f"read content that was never deposited: {target}")
            elif r.status_code != 404:
                w.ledger.problem(f"content: {r.status_code} {r.text[:200]}")
        except httpx.HTTPError:
            return


def creating_persons(w: Worker) -> None:
    """``POST /v1/persons``: each makes a person and wraps a new data key."""
    while not w.stop.is_set():
        made = NewPerson()
        w.ledger.add(made)
        try:
            r = w.checked(
                w.http.post(
                    "/v1/persons",
                    json={
                        "name": "Rotation Newcomer",
                        "date_of_birth": "1980-01-01",
                        "password": "newcomer-password-4b1d",
                        "joined": True,
                    },
                ),
                "create person",
            )
        except httpx.HTTPError as error:
            made.outcome = _outcome(error)
            return
        made.outcome = OK if r.status_code == 201 else REFUSED
        made.person_id = r.json().get("id") if r.status_code == 201 else None


class Load:
    """Threads running ``tasks`` against ``server`` until the block ends (typically
    right after the server was killed: they then fail fast and stop)."""

    def __init__(
        self,
        server: Server,
        population: Population,
        ledger: Ledger,
        tasks: Sequence[Task],
        seed: str,
    ) -> None:
        self.stop = threading.Event()
        self.workers = [
            Worker(
                http_client(server.base, timeout=60),
                random.Random(f"{seed}/{index}"),
                self.stop,
                ledger,
                population,
                re.sub(r"[^A-Za-z0-9._~-]", ".", f"{seed}-w{index}")[-40:],  # X-Request-Id-safe
            )
            for index in range(len(tasks))
        ]
        self.threads = [
            threading.Thread(target=_guarded(task, worker), daemon=True)
            for task, worker in zip(tasks, self.workers, strict=True)
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a load thread did not stop"
        for worker in self.workers:
            worker.http.close()


def _guarded(task: Task, worker: Worker) -> Callable[[], None]:
    def run() -> None:
        try:
            task(worker)
        except Exception as error:  # surfaced by the checks, not lost in a thread
            worker.ledger.problem(f"load thread {worker.name} crashed: {error!r}")

    return run


# --- the checks after a restart ---------------------------------------------------------------


@dataclass
class Checked:
    """What the checks have verified so far: each record's content digest once it was
    opened (re-opened afterwards only in a sample after every restart, and all at the
    end), and the audit log's length."""

    digests: dict[str, str] = field(default_factory=dict)
    audit_entries: int = 0


@dataclass(frozen=True)
class Watch:
    """What the checks after each restart compare against: the deployment, its people,
    the ledger of what was sent and acknowledged, and what was verified so far."""

    deployment: Deployment
    population: Population
    ledger: Ledger
    checked: Checked


def check_restarted(
    watch: Watch, server: Server, rng: random.Random, *, open_all: bool = False
) -> None:
    """Everything a restart after a crash must show; raises AssertionError naming what
    failed."""
    deployment, population, ledger, checked = (
        watch.deployment,
        watch.population,
        watch.ledger,
        watch.checked,
    )
    assert not ledger.problems, "\n".join(ledger.problems[:20])
    with server.client() as http:
        check_audit_over_http(http, population, checked)

    def check(person: Person, person_rng: random.Random) -> None:
        with server.client() as http:
            check_person(http, watch, person, person_rng, open_all=open_all)

    with ThreadPoolExecutor(max_workers=len(population.persons)) as pool:
        rngs = [random.Random(rng.random()) for _ in population.persons]
        for done in [
            pool.submit(check, p, r) for p, r in zip(population.persons, rngs, strict=True)
        ]:
            done.result()
    check_reads_were_audited(deployment, ledger)
    check_notifications_point_at_entries(deployment)
    check_new_persons(deployment, ledger)
    check_no_plaintext(deployment, ledger.canary)


def check_audit_over_http(http: httpx.Client, population: Population, checked: Checked) -> None:
    r = http.get("/v1/admin/audit/verify", headers=population.operator)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["valid"], f"audit chain broken after a crash: {report}"
    assert report["entries"] >= checked.audit_entries, (
        f"audit entries went from {checked.audit_entries} to {report['entries']}"
    )
    checked.audit_entries = report["entries"]


def check_person(
    http: httpx.Client, watch: Watch, person: Person, rng: random.Random, *, open_all: bool
) -> None:
    """The person's records: all listed ones open to exactly what was deposited, the
    database holds no committed record the list misses, acknowledged deposits are all
    there, deposits the server never saw (or refused) are not."""
    deployment, ledger, checked = watch.deployment, watch.ledger, watch.checked
    listed = all_records(http, person.headers)
    ids = [item["id"] for item in listed]
    assert len(ids) == len(set(ids)), "a record is listed twice"
    ((committed,),) = deployment.query(
        "SELECT count(*) FROM record WHERE person_id = :pid AND state = 'committed'",
        pid=person.id,
    )
    assert committed == len(listed), (
        f"{committed} committed records in the database, {len(listed)} listed"
    )
    sent = ledger.contents_of(person.id)
    known = [i for i in ids if i in checked.digests]
    sample = set(rng.sample(known, min(3, len(known))))
    digests: dict[str, str] = {}
    for item in listed:
        rid = item["id"]
        if rid in checked.digests and rid not in sample and not open_all:
            digests[rid] = checked.digests[rid]
            continue
        r = http.get(f"/v1/me/records/{rid}/content", headers=person.headers)
        assert r.status_code == 200, f"listed record {rid} does not open: {r.text[:300]}"
        h = digest(r.content)
        assert checked.digests.get(rid, h) == h, f"record {rid} changed its content"
        assert h in sent, f"record {rid} holds content nobody deposited"
        kind, source = sent[h]
        if kind == "deposit":
            assert item["title"] == source.title, f"record {rid} has another title"
            assert source.record_id in (None, rid), "a deposit's content under another id"
        checked.digests[rid] = digests[rid] = h
    assert len(set(digests.values())) == len(digests), "one deposit became two records"
    titles = {item["title"] for item in listed}
    for d in ledger.deposits:
        if d.person_id != person.id:
            continue
        if d.outcome == OK:
            assert d.record_id is not None and digests.get(d.record_id) == digest(d.content), (
                f"{d.kind} deposit {d.record_id} was acknowledged (201) but is gone"
            )
        elif d.outcome in (NOT_SENT, REFUSED):
            assert d.title not in titles, f"a {d.outcome} {d.kind} deposit exists"
    _check_studies(ledger, person, set(digests.values()))


def _check_studies(ledger: Ledger, person: Person, visible: set[str]) -> None:
    """A radiology deposit is visible wholly or not at all, and wholly once ``complete``
    was answered; its records are matched to its files by their contents' digests."""
    for study in ledger.studies:
        if study.person_id != person.id or not study.files:
            continue
        present = {name for name, c in study.files.items() if digest(c) in visible}
        if study.complete == OK:
            assert present == set(study.files), (
                f"deposit {study.deposit_id} completed (200) but shows {sorted(present)} of "
                f"{sorted(study.files)}"
            )
        elif study.complete == UNKNOWN:
            assert present in (set(), set(study.files)), (
                f"deposit {study.deposit_id} is half-visible: {sorted(present)} of "
                f"{sorted(study.files)}"
            )
        else:
            assert not present, f"deposit {study.deposit_id} is visible without complete"


def check_reads_were_audited(deployment: Deployment, ledger: Ledger) -> None:
    """R11 across crashes: every read answered 2xx has its audit entry (by request id)."""
    with ledger.lock:
        wanted = set(ledger.read_request_ids)
    if not wanted:
        return
    recorded = {row[0] for row in deployment.query("SELECT request_id FROM auditentry")}
    missing = wanted - recorded
    assert not missing, (
        f"{len(missing)} reads answered 2xx have no audit entry: {sorted(missing)[:5]}"
    )


def check_notifications_point_at_entries(deployment: Deployment) -> None:
    dangling = deployment.query(
        "SELECT n.id FROM notification n LEFT JOIN auditentry a "
        "ON a.chain_id = n.person_id AND a.seq = n.audit_seq "
        "WHERE n.audit_seq IS NOT NULL AND a.seq IS NULL"
    )
    assert not dangling, f"notifications naming audit entries that do not exist: {dangling[:5]}"


def check_new_persons(deployment: Deployment, ledger: Ledger) -> None:
    """A person exists with a data key or not at all; acknowledged ones exist."""
    keyless = deployment.query(
        "SELECT p.id FROM person p LEFT JOIN persondatakey k ON k.person_id = p.id "
        "WHERE k.person_id IS NULL AND p.erased_at IS NULL"
    )
    assert not keyless, f"persons without a data key: {keyless[:5]}"
    acknowledged = {p.person_id for p in ledger.new_persons if p.outcome == OK}
    if acknowledged:
        present = {row[0] for row in deployment.query("SELECT id FROM person")}
        assert acknowledged <= present, "an acknowledged person is gone"


def check_no_plaintext(deployment: Deployment, canary: str) -> None:
    """The canary is in no file of the data dir, no server log, and no column of any
    table (which covers PostgreSQL, whose files live elsewhere)."""
    needle = canary.encode()
    leaked = files_containing(deployment.data_dir, needle)
    leaked += [p for p in deployment.logs.glob("*.log") if needle in p.read_bytes()]
    assert not leaked, f"plaintext canary found in {leaked}"
    assert not list(rows_containing(deployment, needle)), "plaintext canary in the database"


def rows_containing(deployment: Deployment, needle: bytes) -> Iterator[tuple[str, Any]]:
    with deployment.engine() as engine, engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    raw = value.encode() if isinstance(value, str) else value
                    if isinstance(raw, bytes | memoryview) and needle in bytes(raw):
                        yield table.name, row[0]


def orphaned_objects(deployment: Deployment) -> list[str]:
    """Blob files no record names (``objects/<person>/<name>``)."""
    named = {
        (person, name)
        for person, name in deployment.query(
            "SELECT person_id, blob_name FROM record WHERE blob_name IS NOT NULL"
        )
    }
    objects = deployment.data_dir / "blobs" / "objects"
    return sorted(
        f"{p.parent.name}/{p.name}"
        for p in objects.glob("*/*")
        if p.is_file() and (p.parent.name, p.name) not in named
    )


def seed_persons(deployment: Deployment, count: int) -> None:
    """``count`` persons with data keys, written straight into the database in bulk —
    sealed and wrapped exactly as :func:`vault.records.sealed.create_person` does — so rotation
    has enough keys to take a while. Nobody logs in as them."""
    import uuid
    from datetime import UTC, date, datetime

    from sqlalchemy import insert

    from vault.crypto.aad import data_key as data_key_aad
    from vault.crypto.aad import person_name as _name_aad
    from vault.crypto.envelope import SealingKey
    from vault.store.tables import Person as PersonRow
    from vault.store.tables import PersonDataKey

    keyring = deployment.keyring()
    now = datetime.now(UTC)
    persons, keys = [], []
    for _ in range(count):
        pid = uuid.uuid4().hex
        key = SealingKey.generate()
        version, wrapped = keyring.wrap(key.raw(), aad=data_key_aad(pid, keyring.current_version))
        persons.append(
            {
                "id": pid,
                "name_sealed": key.seal(b"Bulk Person", aad=_name_aad(pid)),
                "date_of_birth": date(1960, 1, 1),
                "password_hash": "!bulk-seeded",
                "joined_at": now,
                "created_at": now,
            }
        )
        keys.append(
            {"person_id": pid, "key_version": version, "wrapped": wrapped, "created_at": now}
        )
    with deployment.engine() as engine, engine.begin() as connection:
        connection.execute(insert(PersonRow), persons)
        connection.execute(insert(PersonDataKey), keys)


def age_objects(deployment: Deployment, seconds: float) -> None:
    """Make every sealed object look ``seconds`` older (as if the server had been down
    that long), so start-up collection considers it."""
    import os
    import time

    then = time.time() - seconds
    for path in (deployment.data_dir / "blobs" / "objects").glob("*/*"):
        os.utime(path, (then, then))
