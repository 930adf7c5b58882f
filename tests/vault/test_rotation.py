"""Rotation re-wraps data keys without touching records; it resumes when interrupted."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from tests.vault.conftest import NOW, lab_report, make_person
from vault.keys.keyring import LocalKeyring
from vault.keys.rotation import Pacing, retire_unused_versions, rotate
from vault.records.listing import RecordFilter, list_visible
from vault.records.sealed import add_record, open_record
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.tables import PersonDataKey, Record


def _seed(vault: Vault, people: int) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for i in range(people):
        pid = make_person(vault, f"person {i}")
        with transaction(vault.engine) as session:
            record = add_record(session, vault.keys, pid, lab_report(f"v{i}".encode()), now=NOW)
            contents[record.id] = f"v{i}".encode()
    return contents


def _all_open(vault: Vault, contents: dict[str, bytes]) -> None:
    vault.keys.cache.clear()
    with Session(vault.engine) as session:
        for record in session.exec(select(Record)).all():
            assert open_record(session, vault.keys, record).content == contents[record.id]


def test_rotation_rewraps_every_key_and_old_version_can_be_retired(vault: Vault) -> None:
    contents = _seed(vault, 7)
    with Session(vault.engine) as session:
        before = {r.id: r.body_sealed for r in session.exec(select(Record)).all()}
    old = vault.keyring.current_version
    report = rotate(vault.engine, vault.keyring, vault.keys, now=lambda: NOW, pacing=Pacing(3))
    assert report.version == old + 1 and report.rewrapped == 7 and not report.resumed
    assert retire_unused_versions(vault.engine, vault.keyring) == [old]
    assert old not in vault.keyring.versions()
    with Session(vault.engine) as session:
        after = {r.id: r.body_sealed for r in session.exec(select(Record)).all()}
        versions = set(session.exec(select(PersonDataKey.key_version)).all())
    assert after == before  # no record was re-encrypted
    assert versions == {old + 1}
    _all_open(vault, contents)
    assert vault.keyring.path is not None
    reloaded = LocalKeyring.load(vault.keyring.path)  # retirement was persisted
    assert old not in reloaded.versions()


def test_an_interrupted_rotation_resumes(vault: Vault) -> None:
    contents = _seed(vault, 6)
    calls = 0

    def crash_after_first_batch(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate(
            vault.engine,
            vault.keyring,
            vault.keys,
            now=lambda: NOW,
            pacing=Pacing(2, crash_after_first_batch),
        )
    version = vault.keyring.current_version
    assert retire_unused_versions(vault.engine, vault.keyring) == []  # old still in use
    _all_open(vault, contents)  # half-rotated: everything still opens
    report = rotate(vault.engine, vault.keyring, vault.keys, now=lambda: NOW, pacing=Pacing(2))
    assert report.resumed and report.version == version and report.rewrapped == 4
    assert len(retire_unused_versions(vault.engine, vault.keyring)) == 1
    _all_open(vault, contents)
    with Session(vault.engine) as session:
        assert list_visible(session, next(iter(_people(session))), RecordFilter()).records


def _people(session: Session) -> list[str]:
    return list(session.exec(select(PersonDataKey.person_id)).all())
