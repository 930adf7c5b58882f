"""The database fixtures themselves (tests/conftest.py, sim/postgres/server.py)."""

from __future__ import annotations

import os
import pwd
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sim.postgres import (
    create_database,
    drop_database,
    find_postgres_binaries,
    throwaway_cluster,
)
from tests.support.databases import DatabaseKind

MIN_SERVER_MAJOR = 15


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        dbname=parsed.database,
        autocommit=True,
    )


def _scalar(url: str, query: str) -> object:
    with _connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _proc_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])  # real uid
    raise AssertionError(f"no Uid line for pid {pid}")


def test_database_url_is_connectable(database_url: str, db_kind: DatabaseKind) -> None:
    assert make_url(database_url).get_backend_name() == db_kind
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_server_runs_installed_major_version(postgres_server_url: str) -> None:
    version_num = int(str(_scalar(postgres_server_url, "SHOW server_version_num")))
    assert version_num // 10000 == find_postgres_binaries().major
    assert version_num // 10000 >= MIN_SERVER_MAJOR


@pytest.mark.postgres_only
def test_server_does_not_run_as_root(postgres_server_url: str) -> None:
    expected_uid = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    data_dir = Path(str(_scalar(postgres_server_url, "SELECT current_setting('data_directory')")))
    assert data_dir.stat().st_uid == expected_uid != 0
    if not Path("/proc/self/status").exists():
        return
    backend_pid = int(str(_scalar(postgres_server_url, "SELECT pg_backend_pid()")))
    postmaster_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    for pid in (backend_pid, postmaster_pid):
        assert _proc_uid(pid) == expected_uid


@pytest.fixture
def two_databases(postgres_server_url: str) -> Iterator[tuple[str, str]]:
    names = [f"iso_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    urls = [create_database(postgres_server_url, name) for name in names]
    try:
        yield urls[0], urls[1]
    finally:
        for name in names:
            drop_database(postgres_server_url, name)


@pytest.mark.postgres_only
def test_created_databases_are_isolated(
    postgres_server_url: str, two_databases: tuple[str, str]
) -> None:
    first, second = two_databases
    assert make_url(first).database != make_url(second).database
    with _connect(first) as conn:
        conn.execute("CREATE TABLE only_here (id integer)")
        conn.execute("INSERT INTO only_here VALUES (1)")
    assert _scalar(first, "SELECT count(*) FROM only_here") == 1
    assert _scalar(second, "SELECT to_regclass('only_here') IS NULL") is True

    # drop_database also succeeds while a connection is still open, and is idempotent.
    name = make_url(first).database
    assert name is not None
    with _connect(first):
        drop_database(postgres_server_url, name)
    drop_database(postgres_server_url, name)
    exists = _scalar(
        postgres_server_url, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"
    )
    assert exists == 0


@pytest.mark.postgres_only
def test_a_restarted_cluster_keeps_its_data_and_says_what_it_dropped() -> None:
    """The volume benchmark's cold start: the same cluster, stopped and started again."""
    with throwaway_cluster() as cluster:
        with _connect(cluster.url) as conn:
            conn.execute("CREATE TABLE kept (id integer)")
            conn.execute("INSERT INTO kept VALUES (7)")
        before = _scalar(cluster.url, "SELECT pg_postmaster_start_time()")
        dropped = cluster.restart()
        assert dropped.startswith("PostgreSQL's shared buffers (restart)")
        assert ("OS page cache" in dropped) == os.access("/proc/sys/vm/drop_caches", os.W_OK)
        assert _scalar(cluster.url, "SELECT id FROM kept") == 7
        assert _scalar(cluster.url, "SELECT pg_postmaster_start_time()") != before
