"""Crypto-shredding: after erasure nothing of the person opens and their blobs are gone."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from tests.vault.conftest import NOW, lab_report, make_person
from vault.account.erasure import erase_person
from vault.core.errors import PersonErased
from vault.records.sealed import add_record, open_record
from vault.registry.persons import person_name
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.tables import Person, PersonDataKey, Record


def test_after_erasure_nothing_of_the_person_opens(vault: Vault) -> None:
    pid = make_person(vault, "To Be Forgotten")
    keep = make_person(vault, "Stays")
    with transaction(vault.engine) as session:
        gone = add_record(session, vault.keys, pid, lab_report(b"secret"), now=NOW)
        kept = add_record(session, vault.keys, keep, lab_report(b"kept"), now=NOW)
    vault.blobs.put(pid, "scan1", b"sealed bytes")
    with Session(vault.engine) as session:
        copy = session.get(Record, (pid, gone.id))
    assert copy is not None
    with transaction(vault.engine) as session:
        assert erase_person(session, vault.keys, vault.blobs, pid, now=NOW) == 1
    assert not vault.blobs.exists(pid, "scan1")
    with Session(vault.engine) as session:
        assert session.get(PersonDataKey, pid) is None
        assert session.exec(select(Record).where(Record.person_id == pid)).all() == []
        # a copy of the ciphertext (a backup, say) no longer opens
        with pytest.raises(PersonErased):
            open_record(session, vault.keys, copy)
        person = session.get(Person, pid)
        assert person is not None and person.erased_at is not None
        with pytest.raises(PersonErased):
            person_name(session, vault.keys, person)
        other = session.get(Record, (keep, kept.id))
        assert other is not None
        assert open_record(session, vault.keys, other).content == b"kept"


def test_an_erased_persons_login_does_the_work_of_an_unknown_ones(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erasure leaves a hash that fails at once; signing in as that person must still
    cost one full argon2id check (the dummy's), as for a name that never existed."""
    from vault.crypto.passwords import verify_password as real
    from vault.registry import persons

    checked: list[str | None] = []

    def spy(stored_hash: str | None, password: str) -> bool:
        checked.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(persons, "verify_password", spy)
    pid = make_person(vault, "To Be Forgotten")
    with transaction(vault.engine) as session:
        erase_person(session, vault.keys, vault.blobs, pid, now=NOW)
    assert persons.authenticate_person(vault.engine, pid, "any password") is None
    assert persons.authenticate_person(vault.engine, "never-registered", "any") is None
    assert checked == [None, None]  # both: the dummy hash, the same work
