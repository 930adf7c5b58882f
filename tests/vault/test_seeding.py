"""``crossvault seed``: synthetic people and eHRs sealed as deposits are (each opens with
the person's data key under the deposit's AAD), the same content for the same seed, a
database with people refused unless told to add, and the audit still verifying."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from crossvault.cli import app
from tests.vault.conftest import make_person
from vault.audit.verify import public_keys, verify_audit
from vault.core.settings import Settings
from vault.crypto.passwords import verify_password
from vault.records.sealed import open_record
from vault.registry.persons import person_name
from vault.runtime.opening import Vault, provision
from vault.seeding.bulk import SEEDED_PASSWORD, DatabaseNotEmpty, SeedPlan, seed
from vault.store.engine import reading
from vault.store.tables import Person, Record


def _contents(vault: Vault) -> list[tuple[str, str, str, str, bytes]]:
    """Every seeded record opened: (person, their name, record id, title, content)."""
    with Session(vault.engine) as session:
        opened = []
        for record in session.exec(select(Record).order_by(Record.id)).all():
            person = session.get(Person, record.person_id)
            assert person is not None
            plain = open_record(session, vault.keys, record)
            name = person_name(session, vault.keys, person)
            opened.append((record.person_id, name, record.id, plain.title, plain.content))
        return opened


def test_seeded_records_open_like_deposits_and_the_audit_verifies(vault: Vault) -> None:
    done: list[int] = []
    report = seed(vault, SeedPlan(persons=30, records_per_person=4, seed=7), progress=done.append)
    assert (report.persons, report.records, sum(done)) == (30, 120, 120)
    assert report.records_per_second > 0
    opened = _contents(vault)
    assert len(opened) == 120 and len({person for person, *_ in opened}) == 30
    assert all(name.startswith("Seeded Person ") and content for _, name, _, _, content in opened)
    with Session(vault.engine) as session:
        person = session.exec(select(Person)).first()
        assert person is not None and verify_password(person.password_hash, SEEDED_PASSWORD)
    with reading(vault.engine) as session:
        assert verify_audit(session, public_keys(vault.keyring)).valid


def test_the_same_seed_gives_the_same_content(vault: Vault, tmp_path: Path) -> None:
    seed(vault, SeedPlan(persons=5, records_per_person=3, seed=42))
    other_settings = Settings(data_dir=tmp_path / "other")  # a second, embedded vault
    other = Vault.open(other_settings)
    try:
        seed(other, SeedPlan(persons=5, records_per_person=3, seed=42))
        assert _contents(other) == _contents(vault)  # ids, names, titles, contents
        with Session(vault.engine) as a, Session(other.engine) as b:
            sealed_a = a.exec(select(Record.body_sealed).order_by(Record.id)).all()
            sealed_b = b.exec(select(Record.body_sealed).order_by(Record.id)).all()
        assert set(sealed_a).isdisjoint(sealed_b)  # fresh keys and nonces: ciphertexts differ
    finally:
        other.close()


def test_processes_seal_the_same_content_as_one(
    vault: Vault, settings: Settings, tmp_path: Path
) -> None:
    """Two worker processes (PostgreSQL; SQLite keeps one) seal and copy whole batches:
    batch n's content depends on the seed and n only, so it matches one process's."""
    plan = SeedPlan(persons=2500, records_per_person=1, seed=9)  # three batches
    done: list[int] = []
    report = seed(vault, plan, progress=done.append, processes=2, settings=settings)
    assert (report.records, sorted(done)) == (2500, [500, 1000, 1000])
    one = Vault.open(Settings(data_dir=tmp_path / "one"))  # embedded, one process
    try:
        seed(one, plan)
        assert _contents(one) == _contents(vault)
    finally:
        one.close()


def test_a_database_with_people_is_refused_unless_adding(vault: Vault) -> None:
    make_person(vault)
    with pytest.raises(DatabaseNotEmpty):
        seed(vault, SeedPlan(persons=2, records_per_person=1))
    with Session(vault.engine) as session:
        assert session.exec(select(func.count()).select_from(Record)).one() == 0
    seed(vault, SeedPlan(persons=2, records_per_person=1, add=True))
    with Session(vault.engine) as session:
        assert session.exec(select(func.count()).select_from(Person)).one() == 3


def test_the_command_reports_its_rate_and_refuses_a_second_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    provision(settings)
    monkeypatch.setenv("CROSSVAULT_DATA_DIR", str(settings.data_dir))
    if settings.database_url is not None:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    argv = ["seed", "--persons", "20", "--records-per-person", "5", "--seed", "3"]
    first = CliRunner().invoke(app, argv)
    assert first.exit_code == 0, first.output
    assert "seeded 20 person(s) and 100 record(s)" in first.output
    assert "records/s" in first.output
    again = CliRunner().invoke(app, argv)
    assert again.exit_code == 2
    assert "already holds 20 person(s); pass --add" in again.output
    added = CliRunner().invoke(app, [*argv, "--add", "--seed", "4"])
    assert added.exit_code == 0, added.output
