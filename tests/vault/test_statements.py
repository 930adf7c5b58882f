"""Prepared statements (the hot path's driver-level execution) and SQLite's group commit,
on the real schema of the selected database."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session, col

from tests.vault.conftest import NOW, make_person
from vault.runtime.opening import Vault
from vault.store.engine import after_commit, reading, transaction
from vault.store.statements import Prepared, PreparedPage
from vault.store.tables import Notification, Person

_NOTIFICATION_COLUMNS = (
    col(Notification.id),
    col(Notification.at),
    col(Notification.institution_id),
    col(Notification.audit_seq),
    col(Notification.detail_sealed),
)
_BY_PERSON = select(*_NOTIFICATION_COLUMNS).where(
    col(Notification.person_id) == bindparam("person")
)


def _notification(person_id: str, nid: str, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": nid,
        "person_id": person_id,
        "at": datetime(2026, 3, 1, 17, 30, 5, 123456, tzinfo=UTC),
        "channel": "sms",
        "event": "list_records",
        "actor_kind": "mainland_professional",
        "actor_id": "hku_sz/doctor-1",
        "institution_id": "hku_sz",
        "audit_seq": 7,
        "detail_sealed": b"\x01sealed\x00bytes",
    }
    values.update(overrides)
    return values


def test_rows_and_types_are_those_of_session_execute(vault: Vault) -> None:
    pid = make_person(vault)
    insert_one = Prepared(insert(Notification))
    with transaction(vault.engine) as session:
        assert insert_one.run(session, _notification(pid, "n1")) == 1
        nullable = _notification(pid, "n2", institution_id=None, audit_seq=None)
        assert insert_one.run(session, {**nullable, "detail_sealed": None}) == 1
    with reading(vault.engine) as session:
        prepared = sorted(Prepared(_BY_PERSON).all(session, {"person": pid}))
        through_sqlalchemy = sorted(
            tuple(row) for row in session.execute(_BY_PERSON, {"person": pid}).all()
        )
    assert prepared == through_sqlalchemy
    assert prepared[0][1] == datetime(2026, 3, 1, 17, 30, 5, 123456, tzinfo=UTC)  # aware UTC
    assert prepared[0][4] == b"\x01sealed\x00bytes"
    assert prepared[1][2:] == (None, None, None)


def test_dates_and_naive_instants_pass_the_column_types(vault: Vault) -> None:
    pid = make_person(vault)
    born = Prepared(
        select(col(Person.date_of_birth), col(Person.joined_at)).where(
            col(Person.id) == bindparam("person")
        )
    )
    with reading(vault.engine) as session:
        assert born.first(session, {"person": pid}) == (date(1950, 5, 17), NOW)
        assert born.first(session, {"person": "nobody"}) is None
    naive = _notification(pid, "n3", at=datetime(2026, 3, 1, 17, 30))
    with pytest.raises(ValueError, match="naive datetime"), transaction(vault.engine) as session:
        Prepared(insert(Notification)).run(session, naive)


def test_a_prepared_write_belongs_to_the_session_transaction(vault: Vault) -> None:
    pid = make_person(vault)
    with pytest.raises(RuntimeError), transaction(vault.engine) as session:
        Prepared(insert(Notification)).run(session, _notification(pid, "gone"))
        raise RuntimeError("abandon the unit of work")
    with reading(vault.engine) as session:
        assert Prepared(_BY_PERSON).all(session, {"person": pid}) == []


def test_each_set_of_parameter_names_compiles_its_own_statement(vault: Vault) -> None:
    pid = make_person(vault)
    with transaction(vault.engine) as session:
        Prepared(insert(Notification)).run(session, _notification(pid, "n4"))
    move = Prepared(update(Notification).where(col(Notification.id) == bindparam("nid")))
    with transaction(vault.engine) as session:
        assert move.run(session, {"nid": "n4", "audit_seq": 9}) == 1
        assert move.run(session, {"nid": "n4", "channel": "email"}) == 1  # not audit_seq again
        assert move.run(session, {"nid": "nobody", "channel": "email"}) == 0
    with Session(vault.engine) as session:
        row = session.get(Notification, (pid, "n4"))
        assert row is not None
        assert (row.audit_seq, row.channel) == (9, "email")


def test_expanding_parameters_are_refused(vault: Vault) -> None:
    statement = Prepared(select(col(Person.id)).where(col(Person.id).in_(["a", "b"])))
    with reading(vault.engine) as session, pytest.raises(ValueError, match="expanding"):
        statement.all(session)


# --- SQLite's group commit ----------------------------------------------------------------


@pytest.fixture
def sqlite_vault(vault: Vault, db_kind: str) -> Vault:
    if db_kind != "sqlite":
        pytest.skip("group commit is SQLite's; PostgreSQL makes its own commits durable")
    return vault


def test_sqlite_commits_without_fsync_and_waits_for_the_group_sync(
    sqlite_vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent committers share WAL fsyncs, and no ``transaction`` returns before an
    fsync that began after its commit has finished."""
    with reading(sqlite_vault.engine) as session:
        mode = session.connection().exec_driver_sql("PRAGMA synchronous").scalar()
    assert mode == 1  # NORMAL: the commit itself does not fsync
    pid = make_person(sqlite_vault)
    group = sqlite_vault.engine._crossvault_group_sync  # type: ignore[attr-defined]
    syncs: list[tuple[int, int]] = []  # (commits finished when it began, when it ended)
    covered, claimed_too_much = [group._durable], list[int]()
    real_sync = group._sync_wal

    def counted_sync() -> None:
        # what earlier syncs claimed durable must be what was finished when they began
        claimed_too_much.extend([group._durable] if group._durable > covered[0] else [])
        began = group._committed
        real_sync()
        covered[0] = max(covered[0], began)
        syncs.append((began, group._committed))

    monkeypatch.setattr(group, "_sync_wal", counted_sync)
    fsyncs = _count_fsyncs(monkeypatch)
    real_wait = group.wait_durable
    returned: list[tuple[int, int]] = []  # (the commit's number, commits synced by then)

    def checked_wait() -> int:
        mine: int = real_wait()
        returned.append((mine, group._durable))
        return mine

    monkeypatch.setattr(group, "wait_durable", checked_wait)

    def commit_some(worker: int) -> None:
        for i in range(15):
            with transaction(sqlite_vault.engine) as session:
                Prepared(insert(Notification)).run(session, _notification(pid, f"{worker}-{i}"))

    threads = [threading.Thread(target=commit_some, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(returned) == 120
    assert all(durable >= mine for mine, durable in returned)
    # every sync covered only commits finished before it began, and some covered several
    assert all(began <= ended for began, ended in syncs)
    assert 1 <= len(syncs) < len(returned), syncs
    assert claimed_too_much == []
    assert fsyncs[0] >= len(syncs)  # each group sync is a real fsync of the WAL
    with reading(sqlite_vault.engine) as session:
        assert len(Prepared(_BY_PERSON).all(session, {"person": pid})) == 120


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count = [0]
    real = os.fsync

    def fsync(fd: int) -> None:
        count[0] += 1
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return count


def test_after_commit_actions_run_once_durable_and_the_commit_waits_only_once(
    sqlite_vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An action registered with :func:`after_commit` runs after its commit is on disk;
    ``transaction`` then does not wait (and fsync) for that commit a second time. A
    rolled-back transaction runs none of its actions."""
    pid = make_person(sqlite_vault)
    group = sqlite_vault.engine._crossvault_group_sync  # type: ignore[attr-defined]
    real_wait = group.wait_durable
    waits: list[int] = []
    seen: list[str] = []

    def counted_wait() -> int:
        mine: int = real_wait()
        waits.append(mine)
        return mine

    monkeypatch.setattr(group, "wait_durable", counted_wait)
    with transaction(sqlite_vault.engine) as session:
        Prepared(insert(Notification)).run(session, _notification(pid, "kept"))
        after_commit(session, lambda: seen.append(f"ran after {len(waits)} wait"))
    assert seen == ["ran after 1 wait"]
    assert len(waits) == 1 and group._durable >= waits[0]

    with pytest.raises(RuntimeError), transaction(sqlite_vault.engine) as session:
        Prepared(insert(Notification)).run(session, _notification(pid, "lost"))
        after_commit(session, lambda: seen.append("rolled back"))
        raise RuntimeError("abandon")
    assert seen == ["ran after 1 wait"] and len(waits) == 1


def test_a_page_in_one_step_has_the_rows_of_a_plain_fetch(vault: Vault) -> None:
    """SQLite answers a :class:`PreparedPage` as one JSON array (blobs as hex): the same
    rows and types as a plain fetch, NULL and empty blobs and NUL bytes included."""
    pid = make_person(vault)
    insert_one = Prepared(insert(Notification))
    with transaction(vault.engine) as session:
        insert_one.run(session, _notification(pid, "n1"))
        insert_one.run(session, {**_notification(pid, "n2", audit_seq=None), "detail_sealed": None})
        insert_one.run(session, {**_notification(pid, "n3"), "detail_sealed": b""})
    with reading(vault.engine) as session:
        one_step = sorted(PreparedPage(_BY_PERSON).all(session, {"person": pid}))
        plain = sorted(Prepared(_BY_PERSON).all(session, {"person": pid}))
        nobody = PreparedPage(_BY_PERSON).all(session, {"person": "nobody"})
    assert one_step == plain
    assert [row[4] for row in one_step] == [b"\x01sealed\x00bytes", None, b""]
    assert one_step[0][1] == datetime(2026, 3, 1, 17, 30, 5, 123456, tzinfo=UTC)
    assert nobody == []
