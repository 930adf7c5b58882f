"""Crash safety (issue 8, item 5): ``crossvault serve`` is SIGKILLed at random points
while clients deposit, while keys rotate and while reads append to the audit log; after
every restart nothing acknowledged is lost and nothing is half there.

Each scenario is a loop over one installation (a data dir and a database: the embedded
SQLite file, or a PostgreSQL database with ``--db=postgresql``):

1. client threads load the server (:mod:`tests.security.support_crash` keeps a ledger
   of every request, its exact bytes and what it was answered);
2. after a seeded random delay — or, during rotation, once a seeded random share of the
   keys is re-wrapped — the server gets SIGKILL: no shutdown handler runs;
3. the server is started again over the same data, and the checks run: the audit chain
   verifies (and is no shorter than before); every record a client got a 2xx for is
   listed and opens byte-identical; a request that got no answer made its record wholly
   (listed, opening byte-identical) or not at all, and a radiology deposit is visible
   with all of its files or none; no committed record is missing from the list or fails
   to open; every read answered 2xx has its audit entry (R11); the plaintext canary that
   every content, title and DICOM file carries is in no file of the data dir, no server
   log and no column of any table.

Rotation is killed both inside the server (``POST /v1/admin/keys/rotate``) and as the
``crossvault keys rotate`` command run beside the loaded server (which then dies too);
the next ``crossvault keys rotate`` must say it resumed, and afterwards every data key
opens with the keyring file alone and only the current keyring version holds key
material. Persons are created throughout, so new data keys are wrapped mid-rotation.

Processes start from a zygote (:mod:`tests.security.support_zygote`): real processes,
killed for real, without paying Python's imports on every restart.

Environment:

- ``CROSSVAULT_CRASH_LOOPS`` (default 8): kills per scenario; raise it for a longer run,
  e.g. ``CROSSVAULT_CRASH_LOOPS=200 .venv/bin/pytest tests/security/test_crash_safety.py``;
- ``CROSSVAULT_CRASH_SEED`` (default 20260127): seeds the delays, kill points and client
  choices (thread interleaving stays the operating system's);
- ``CROSSVAULT_CRASH_EXEC=1``: start every process with ``python -m crossvault``.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlmodel import Session

from tests.security.support_crash import (
    OK,
    UNKNOWN,
    Checked,
    Deposit,
    Ledger,
    Load,
    Watch,
    age_objects,
    check_restarted,
    creating_persons,
    depositing,
    orphaned_objects,
    radiology,
    reading,
    seed_persons,
)
from tests.security.support_servers import (
    Deployment,
    Population,
    Server,
    http_client,
    new_person,
)
from vault.account.erasure import erase_person
from vault.core.errors import KeyringError
from vault.core.settings import Settings
from vault.keys.datakeys import DataKeys
from vault.keys.keyring import LocalKeyring
from vault.keys.rotation import retire_unused_versions, rotate
from vault.records.sealed import NewRecord, add_record
from vault.runtime.opening import ORPHAN_GRACE_SECONDS, Vault
from vault.store.engine import transaction

LOOPS = int(os.environ.get("CROSSVAULT_CRASH_LOOPS", "8"))
SEED = os.environ.get("CROSSVAULT_CRASH_SEED", "20260127")
BATCH = 500  # keys re-wrapped per committed batch (vault.rotation's default)
ROTATION_PERSONS = 1500  # three batches


def _ledger(rng: random.Random) -> Ledger:
    return Ledger(canary=f"PLAINTEXT-CANARY-{rng.getrandbits(64):016x}")


def _interrupted(ledger: Ledger) -> int:
    """How many requests a kill cut off (sent, never answered)."""
    return sum(d.outcome == UNKNOWN for d in ledger.deposits) + sum(
        s.complete == UNKNOWN for s in ledger.studies
    )


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the load never got there"
        time.sleep(0.02)


def _more_reads(ledger: Ledger, count: int) -> Callable[[], bool]:
    """True once ``count`` more reads than now were answered."""
    wanted = len(ledger.read_request_ids) + count
    return lambda: len(ledger.read_request_ids) >= wanted


def _audit_verifies(deployment: Deployment) -> None:
    run = deployment.cli("audit", "verify")
    assert run.code == 0 and "audit chains valid" in run.output, run.output


# --- (a) deposits --------------------------------------------------------------------------------


def test_kills_during_deposits_lose_nothing_acknowledged_and_leave_nothing_half(
    deployment: Deployment, server: Server
) -> None:
    rng = random.Random(f"{SEED}/deposits")
    ledger = _ledger(rng)
    with server.client() as http:
        population = Population.create(http, persons=4)
    checked = Checked()
    tasks = [
        depositing("ehr"),
        depositing("ehr"),
        depositing("folder"),
        radiology,
        radiology,
        reading,
    ]
    # First, load without a kill until a radiology deposit completed: acknowledged
    # studies, then, must survive every crash that follows.
    with Load(server, population, ledger, tasks, seed=f"{SEED}/deposits/warm-up"):
        _wait_for(lambda: any(s.complete == OK for s in ledger.studies))
    for loop in range(LOOPS):
        with Load(server, population, ledger, tasks, seed=f"{SEED}/deposits/{loop}"):
            time.sleep(rng.uniform(0.15, 1.0))
            server.kill()
        server.start()
        check_restarted(Watch(deployment, population, ledger, checked), server, rng)
    assert _interrupted(ledger) > 0, "no kill cut off a deposit: the loop tested nothing"
    server.stop()
    _audit_verifies(deployment)

    # What a kill between publishing a blob and committing its record leaves (an object
    # no record names) is collected once past the grace period; named objects stay.
    age_objects(deployment, ORPHAN_GRACE_SECONDS + 60)
    server.start()
    assert orphaned_objects(deployment) == []
    check_restarted(Watch(deployment, population, ledger, checked), server, rng, open_all=True)


# --- (b) key rotation ---------------------------------------------------------------------------


def _keys_beyond(deployment: Deployment, version: int) -> int:
    ((count,),) = deployment.query(
        "SELECT count(*) FROM persondatakey WHERE key_version > :v", v=version
    )
    return int(count)


@dataclass(frozen=True)
class KillPoint:
    """When to kill a rotation: once ``at_keys`` keys are re-wrapped past
    ``old_version``, or (``at_keys`` None) after ``at_seconds``."""

    old_version: int
    at_keys: int | None
    at_seconds: float


def _kill_when(
    deployment: Deployment, kill: Callable[[], object], done: Callable[[], bool], at: KillPoint
) -> int:
    """Kill at ``at`` (or once ``done``); returns the keys re-wrapped when it died."""
    old_version, at_keys, at_seconds = at.old_version, at.at_keys, at.at_seconds
    deadline = time.monotonic() + (at_seconds if at_keys is None else 60)
    with deployment.engine() as engine, engine.connect() as connection:
        while time.monotonic() < deadline and not done():
            if at_keys is not None:
                (count,) = connection.exec_driver_sql(
                    f"SELECT count(*) FROM persondatakey WHERE key_version > {old_version}"
                ).one()
                connection.rollback()  # a fresh snapshot for the next look
                if count >= at_keys:
                    break
            time.sleep(0.003)
    kill()
    return _keys_beyond(deployment, old_version)


def _resume_and_check_keys(deployment: Deployment, *, was_behind: int) -> bool:
    """``crossvault keys rotate`` after a kill: it resumes if keys were left behind, and
    afterwards every key opens with the keyring file and only one version has a key."""
    run = deployment.cli("keys", "rotate")
    assert run.code == 0, run.output
    resumed = "resumed and finished" in run.output
    assert resumed == (was_behind > 0), (was_behind, run.output)
    keyring = deployment.keyring()
    assert keyring.versions() == (keyring.current_version,), run.output
    assert _keys_beyond(deployment, keyring.current_version - 1) == deployment.data_keys_open()
    return resumed


def _behind(deployment: Deployment) -> int:
    current = deployment.keyring().current_version
    ((count,),) = deployment.query(
        "SELECT count(*) FROM persondatakey WHERE key_version < :v", v=current
    )
    return int(count)


def test_an_interrupted_rotation_resumes_and_every_key_still_opens(
    deployment: Deployment, server: Server
) -> None:
    rng = random.Random(f"{SEED}/rotation")
    ledger = _ledger(rng)
    with server.client() as http:
        population = Population.create(http, persons=3)
    seed_persons(deployment, ROTATION_PERSONS)
    checked = Checked()
    tasks = [depositing("ehr"), depositing("folder"), reading, creating_persons]
    resumed = progress_kills = 0
    for loop in range(LOOPS):
        old_version = deployment.keyring().current_version
        total = deployment.data_keys_open()
        in_server = loop % 3 != 2  # two of three rotations run in the server, one in the CLI
        by_progress = rng.random() < 0.75
        # a threshold at most one batch short of the end: the kill then lands while a
        # batch is still to come (a time-based kill may land anywhere, even before the
        # rotation began or after it ended)
        at_keys = rng.randint(1, total - BATCH) if by_progress else None
        progress_kills += by_progress
        at_seconds = rng.uniform(0.0, 0.05)
        with Load(server, population, ledger, tasks, seed=f"{SEED}/rotation/{loop}"):
            if in_server:
                finished = threading.Event()
                rotating = threading.Thread(
                    target=_rotate_over_http, args=(server, population, finished), daemon=True
                )
                rotating.start()
                at = KillPoint(old_version, at_keys, at_seconds)
                _kill_when(deployment, server.kill, finished.is_set, at)
                rotating.join(timeout=60)
            else:  # the command, killed part-way while the server serves on
                _kill_rotation_command(deployment, old_version, at_keys, at_seconds + 0.3)
                time.sleep(rng.uniform(0.0, 0.3))
                server.kill()
        resumed += _resume_and_check_keys(deployment, was_behind=_behind(deployment))
        server.start()
        check_restarted(Watch(deployment, population, ledger, checked), server, rng)
    check_restarted(Watch(deployment, population, ledger, checked), server, rng, open_all=True)
    assert resumed >= max(1, progress_kills // 2), (
        f"only {resumed} of {LOOPS} kills ({progress_kills} timed by progress) landed mid-rotation"
    )
    assert any(p.outcome == OK for p in ledger.new_persons), "no person was made meanwhile"
    server.stop()
    _audit_verifies(deployment)


def _kill_rotation_command(
    deployment: Deployment, old_version: int, at_keys: int | None, at_seconds: float
) -> None:
    """``crossvault keys rotate``, SIGKILLed part-way (``at_seconds`` includes its start)."""
    pid, log = deployment.start_cli("keys", "rotate")
    launcher = deployment.launcher
    at = KillPoint(old_version, at_keys, at_seconds)
    _kill_when(
        deployment, lambda: launcher.kill(pid), lambda: launcher.wait(pid, 0) is not None, at
    )
    assert "Traceback" not in log.read_text(errors="replace")


def _rotate_over_http(server: Server, population: Population, finished: threading.Event) -> None:
    try:
        with http_client(server.base, timeout=60) as http:
            r = http.post("/v1/admin/keys/rotate", headers=population.operator)
            assert r.status_code == 200, r.text
    except httpx.HTTPError:
        pass  # killed mid-way: expected
    finally:
        finished.set()


def test_a_running_server_follows_a_rotation_the_cli_made(
    deployment: Deployment, server: Server
) -> None:
    """``crossvault keys rotate`` while a server runs: the server must open the keys the
    command re-wrapped (a version it did not load at start), and must wrap new persons'
    keys under the new version — not under the one the command retired, which would make
    them unopenable after the next restart (data loss, before the fix)."""
    with server.client() as http:
        population = Population.create(http, persons=1)
        person = population.persons[0]
        record = http.post(
            "/v1/me/folder",
            headers=person.headers,
            json={
                "category": "document",
                "clinical_date": "2025-01-01",
                "title": "t",
                "content": "still here",
            },
        )
        assert record.status_code == 201, record.text
        run = deployment.cli("keys", "rotate")
        assert run.code == 0, run.output
        # (the server's key cache is keyed by version: the re-wrapped key is a miss)
        r = http.get(f"/v1/me/records/{record.json()['id']}/content", headers=person.headers)
        assert r.status_code == 200 and r.content == b"still here", r.text
        newcomer = new_person(http)
        assert http.get("/v1/me/records", headers=newcomer.headers).status_code == 200
        # and the server's own rotation now builds on the command's, instead of
        # writing its start-up keyring over it
        r = http.post("/v1/admin/keys/rotate", headers=population.operator)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 3 and r.json()["retired_versions"] == [2], r.text
    server.stop()
    assert deployment.data_keys_open() == 2
    assert deployment.keyring().versions() == (3,)


def test_a_stale_keyring_refuses_to_rotate_over_a_newer_one(deployment: Deployment) -> None:
    """A keyring loaded before another process rotated (one that does not follow its
    file) must refuse to rotate rather than write its old versions over the new ones —
    which destroyed the key every data key was then wrapped under."""
    settings = Settings(data_dir=deployment.data_dir, database_url=deployment.database_url)
    vault = Vault.open(settings)
    try:
        from datetime import UTC, date, datetime

        from vault.registry.persons import NewPerson, create_person

        now = datetime.now(UTC)
        with transaction(vault.engine) as session:
            new = NewPerson("Somebody", date(1950, 1, 1))
            create_person(session, vault.keys, new, password_hash="!", now=now)
        stale = LocalKeyring.load(deployment.data_dir / "keyring.json")
        rotate(vault.engine, vault.keyring, vault.keys, now=lambda: now)
        retire_unused_versions(vault.engine, vault.keyring)
        before = (deployment.data_dir / "keyring.json").read_bytes()
        with pytest.raises(KeyringError, match="changed by another process"):
            rotate(vault.engine, stale, DataKeys(stale), now=lambda: now)
        with pytest.raises(KeyringError, match="changed by another process"):
            retire_unused_versions(vault.engine, stale)
        assert (deployment.data_dir / "keyring.json").read_bytes() == before
    finally:
        vault.close()
    assert deployment.data_keys_open() == 1


# --- (c) audit appends ------------------------------------------------------------------------


def test_kills_during_audit_appends_leave_a_chain_that_verifies(
    deployment: Deployment, server: Server
) -> None:
    rng = random.Random(f"{SEED}/audit")
    ledger = _ledger(rng)
    with server.client() as http:
        population = Population.create(http, persons=4)
        for person in population.persons:
            for n in range(4):
                title = f"{ledger.canary} seeded {person.id} {n}"
                content = f"{ledger.canary} seeded content {n}".encode()
                deposit = Deposit("folder", person.id, title, content)
                r = http.post(
                    "/v1/me/folder",
                    headers=person.headers,
                    json={
                        "category": "document",
                        "clinical_date": "2025-03-01",
                        "title": title,
                        "content": content.decode(),
                    },
                )
                assert r.status_code == 201, r.text
                deposit.outcome, deposit.record_id = OK, r.json()["id"]
                ledger.add(deposit)
    checked = Checked()
    tasks = [reading] * 6 + [depositing("ehr")]
    for loop in range(LOOPS):
        with Load(server, population, ledger, tasks, seed=f"{SEED}/audit/{loop}"):
            _wait_for(_more_reads(ledger, 10))  # a loaded machine is slower, not wrong
            time.sleep(rng.uniform(0.0, 0.5))  # then a kill at a random point of the load
            server.kill()
        server.start()
        check_restarted(Watch(deployment, population, ledger, checked), server, rng)
    assert len(ledger.read_request_ids) > LOOPS * 10, "too few reads to mean anything"
    server.stop()
    _audit_verifies(deployment)


# --- the gaps the loops found, pinned down ------------------------------------------------------


def test_an_object_a_crash_left_without_its_record_is_collected_at_start(
    deployment: Deployment, server: Server
) -> None:
    """The state a kill between the blob's rename and its record's commit leaves,
    made directly: start-up collects it past the grace period, and only it."""
    rng = random.Random(f"{SEED}/orphans")
    ledger = _ledger(rng)
    with server.client() as http:
        population = Population.create(http, persons=1)
    with Load(server, population, ledger, [radiology], seed=f"{SEED}/orphans"):
        _wait_for(lambda: any(s.complete == OK for s in ledger.studies))
    server.stop()
    objects = sorted((deployment.data_dir / "blobs" / "objects").glob("*/*"))
    assert objects, "no radiology object was stored"
    old_orphan = objects[0].with_name("0" * 32)
    young_orphan = objects[0].with_name("1" * 32)
    shutil.copyfile(objects[0], old_orphan)
    age_objects(deployment, ORPHAN_GRACE_SECONDS + 60)
    shutil.copyfile(objects[0], young_orphan)  # just published: its record may be coming
    server.start()
    assert not old_orphan.exists()
    assert young_orphan.exists(), "an object inside the grace period was collected"
    assert all(p.exists() for p in objects), "an object a record names was collected"
    assert "removed 1 orphaned blob(s)" in server.log_text()
    check_restarted(Watch(deployment, population, ledger, Checked()), server, rng, open_all=True)


def test_an_erasure_that_does_not_commit_keeps_the_blobs(deployment: Deployment) -> None:
    """Erasure deletes blobs only after its transaction commits; before the fix it
    deleted them first, so a crash before the commit left records whose images were
    gone (listed, never opening)."""
    settings = Settings(data_dir=deployment.data_dir, database_url=deployment.database_url)
    vault = Vault.open(settings)
    try:
        from datetime import UTC, date, datetime

        from vault.registry.persons import NewPerson, create_person

        now = datetime.now(UTC)
        with transaction(vault.engine) as session:
            new = NewPerson("To Be Forgotten", date(1950, 1, 1))
            person = create_person(session, vault.keys, new, password_hash="!", now=now)
            pid = person.id
            add_record(
                session,
                vault.keys,
                pid,
                NewRecord("document", "personal_folder", date(2025, 1, 1), "t", b"c", "text/plain"),
                now=now,
            )
        vault.blobs.put(pid, "scan", b"sealed bytes")

        class Crash(Exception):
            pass

        with pytest.raises(Crash), transaction(vault.engine) as session:
            erase_person(session, vault.keys, vault.blobs, pid, now=now)
            raise Crash  # the process dies before the commit
        assert vault.blobs.exists(pid, "scan"), "blobs deleted by an erasure that never happened"
        with Session(vault.engine) as session:
            vault.keys.cache.clear()
            vault.keys.get(session, pid)  # the key is still there, so the records open
        with transaction(vault.engine) as session:
            erase_person(session, vault.keys, vault.blobs, pid, now=now)
            assert vault.blobs.exists(pid, "scan"), "deleted before the commit"
        assert not vault.blobs.exists(pid, "scan")
    finally:
        vault.close()


def test_a_keyring_copy_a_killed_rotation_left_is_removed(
    deployment: Deployment, server: Server
) -> None:
    """A kill while ``keyring.json`` was being replaced leaves its temporary beside it,
    holding key material — of versions that a later rotation retires. Retiring (and the
    server's start) removes such copies once past their grace period."""
    server.stop()
    keyring_file = deployment.data_dir / "keyring.json"
    leftover = deployment.data_dir / ".keyring.json.00112233aabbccdd.tmp"
    shutil.copyfile(keyring_file, leftover)
    os.chmod(leftover, 0o600)
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    run = deployment.cli("keys", "rotate")
    assert run.code == 0, run.output
    assert not leftover.exists(), "a copy of retired key material survived the rotation"
    shutil.copyfile(keyring_file, leftover)
    os.utime(leftover, (old, old))
    server.start()
    assert not leftover.exists(), "start-up left a stale keyring copy"
