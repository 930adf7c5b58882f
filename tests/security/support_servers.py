"""A crossvault installation driven the way an operator and its clients drive one: real
``crossvault`` processes (a server, CLI commands) started, killed and restarted over one
data directory and one database; the test process itself only talks HTTP and, to check
or to tamper, reads and writes the database and the files directly.

Used by the crash-safety and tamper-evidence suites (issue 8, items 5 and 6).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from sim.onboarding import APPROVER, Onboarding, Operators
from sim.server import free_port
from tests.security.support_zygote import Launcher, clean_environment
from vault.crypto.aad import data_key as data_key_aad
from vault.keys.keyring import KEYRING_FILENAME, LocalKeyring

OPERATOR_SECRET = "crash-suite-operator-secret-6f1d2b9a0c4e"
PASSWORD = "crash-suite-password-9c2e41"
PERSON_NAME = "Chan Tai Man"
DICOM_NAME = "CHAN^TAI MAN"
HK_INSTITUTION = "ha"
RADIOLOGY_INSTITUTION = "hku_sz"


# Plain HTTP only: one TLS context for every client, instead of each loading CA files.
_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def http_client(base: str, timeout: float = 30) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=timeout, verify=_TLS)


@dataclass(frozen=True)
class CliRun:
    code: int
    output: str


@dataclass
class Deployment:
    """One installation: its data dir, its database (``None``: the embedded SQLite file
    in the data dir) and the launcher its processes start from."""

    data_dir: Path
    database_url: str | None
    logs: Path
    launcher: Launcher
    _runs: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. an S3 blob store's

    def env(self) -> dict[str, str]:
        env = {
            **clean_environment(),
            "CROSSVAULT_DATA_DIR": str(self.data_dir),
            "CROSSVAULT_OPERATOR_SECRET": OPERATOR_SECRET,
            "CROSSVAULT_OPERATORS": json.dumps(dict([APPROVER])),
            **self.extra_env,
        }
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        return env

    @property
    def url(self) -> str:
        """The database's URL, for the test process's own reads and edits."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'crossvault.db').resolve()}"

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """A plain engine on the database (no crossvault hooks), disposed afterwards."""
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            yield engine
        finally:
            engine.dispose()

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.engine() as engine, engine.connect() as connection:
            return list(connection.execute(text(sql), params).all())

    def execute(self, sql: str, **params: Any) -> int:
        """Run one edit in its own transaction (as an attacker with database access
        would); the number of rows it touched."""
        with self.engine() as engine, engine.begin() as connection:
            return int(connection.execute(text(sql), params).rowcount)

    def keyring(self) -> LocalKeyring:
        return LocalKeyring.load(self.data_dir / KEYRING_FILENAME)

    def log(self, stem: str) -> Path:
        self._runs += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f"{self._runs:03d}-{stem}.log"

    def start_cli(self, *argv: str) -> tuple[int, Path]:
        """Start ``crossvault ARGV`` without waiting: (pid, log file)."""
        log = self.log("-".join(argv))
        return self.launcher.spawn(list(argv), self.env(), log), log

    def finish_cli(self, pid: int, log: Path, timeout: float = 120) -> CliRun:
        status = self.launcher.wait(pid, timeout)
        if status is None:
            self.launcher.kill(pid)
            raise AssertionError(f"crossvault {log.name} did not finish in {timeout}s")
        return CliRun(status, log.read_text(errors="replace"))

    def cli(self, *argv: str, timeout: float = 120) -> CliRun:
        """Run ``crossvault ARGV`` to completion."""
        pid, log = self.start_cli(*argv)
        return self.finish_cli(pid, log, timeout)

    def data_keys_open(self) -> int:
        """Unwrap every person's data key with the keyring file, as a restarted server
        would; raises if any fails. Returns how many there are."""
        keyring = self.keyring()
        rows = self.query("SELECT person_id, key_version, wrapped FROM persondatakey")
        for person_id, version, wrapped in rows:
            keyring.unwrap(version, bytes(wrapped), aad=data_key_aad(person_id, version))
        return len(rows)

    def server_logs(self) -> list[Path]:
        return sorted(self.logs.glob("*-serve-*.log")) if self.logs.exists() else []


@dataclass
class Server:
    """``crossvault serve`` on a free port, started and killed at will."""

    deployment: Deployment
    pid: int | None = None
    base: str = ""
    log: Path | None = None
    starts: int = 0
    startup_seconds: list[float] = field(default_factory=list)

    def start(self, timeout: float = 60) -> None:
        assert self.pid is None, "already running"
        began = time.monotonic()
        for _attempt in range(3):  # a free port may be taken before the server binds it
            port = free_port()
            self.pid, self.log = self.deployment.start_cli("serve", "--port", str(port))
            self.base = f"http://127.0.0.1:{port}"
            if self._ready(timeout):
                self.starts += 1
                self.startup_seconds.append(time.monotonic() - began)
                return
            self.pid = None
        raise AssertionError(f"the server did not start; its log:\n{self.log_text()}")

    def _ready(self, timeout: float) -> bool:
        assert self.pid is not None
        deadline = time.monotonic() + timeout
        with http_client(self.base, timeout=1) as http:
            while time.monotonic() < deadline:
                if self.deployment.launcher.wait(self.pid, 0) is not None:
                    return False
                try:
                    if http.get("/healthz").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
        self.deployment.launcher.kill(self.pid)
        return False

    def kill(self) -> int:
        """SIGKILL: no shutdown handler, no flush, no cleanup runs."""
        assert self.pid is not None, "not running"
        status = self.deployment.launcher.kill(self.pid)
        self.pid = None
        return status

    def stop(self) -> None:
        """A graceful stop (SIGTERM), for the end of a test."""
        if self.pid is None:
            return
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if self.deployment.launcher.wait(self.pid, 20) is None:
            self.deployment.launcher.kill(self.pid)
        self.pid = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def client(self, timeout: float = 30) -> httpx.Client:
        return http_client(self.base, timeout)


def token(http: httpx.Client, **form: str) -> dict[str, str]:
    response = http.post("/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def operator_headers(http: httpx.Client) -> dict[str, str]:
    return token(
        http, grant_type="client_credentials", client_id="operator", client_secret=OPERATOR_SECRET
    )


@dataclass(frozen=True)
class Person:
    id: str
    headers: dict[str, str]


@dataclass
class Population:
    """People and professionals made through the API. Tokens live 15 minutes and are
    signed with the keyring's key, so they stay valid across restarts."""

    operator: dict[str, str]
    persons: list[Person]
    doctor: dict[str, str]
    radiographer: dict[str, str]

    @classmethod
    def create(cls, http: httpx.Client, persons: int) -> Population:
        operator = operator_headers(http)
        people = [new_person(http) for _ in range(persons)]
        staff = Onboarding(http, Operators(("operator", OPERATOR_SECRET), APPROVER))
        doctor = staff.professional(HK_INSTITUTION, "Dr Crash", "doctor")
        radiographer = staff.professional(RADIOLOGY_INSTITUTION, "Dr Crash", "radiographer")
        return cls(operator, people, doctor, radiographer)


def new_person(http: httpx.Client, name: str = PERSON_NAME) -> Person:
    """A person who registers themselves, logged in."""
    r = http.post(
        "/v1/persons",
        json={"name": name, "date_of_birth": "1950-05-17", "password": PASSWORD, "joined": True},
    )
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    return Person(pid, token(http, grant_type="password", username=pid, password=PASSWORD))


def all_records(http: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every record the caller lists under ``/v1/me/records``, following cursors."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        r = http.get("/v1/me/records", headers=headers, params=params)
        assert r.status_code == 200, r.text
        items.extend(r.json()["items"])
        cursor = r.json().get("next_cursor")
        if not cursor:
            return items
        params = {"limit": 200, "cursor": cursor}


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    found.append(path)
            except FileNotFoundError:  # removed while we walked
                continue
    return found
