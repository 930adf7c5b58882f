"""Suite-wide options and database fixtures.

``pytest --db=sqlite`` (default) or ``pytest --db=postgresql``: with the latter, one
throw-away PostgreSQL server is started for the session (see ``sim/postgres/server.py``)
and every test using ``database_url`` gets a database of its own on it.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from hypothesis import settings

from sim.postgres import create_database, drop_database, running_postgres
from tests.support.databases import DATABASE_KINDS, DEFAULT_DATABASE_KIND, DatabaseKind

# No per-example deadline anywhere: on a loaded 2-core machine a deadline is a timing test,
# and speed is measured in benchmarks (``make bench``), not asserted in the suite.
settings.register_profile("crossvault", deadline=None)
settings.load_profile("crossvault")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        action="store",
        choices=DATABASE_KINDS,
        default=DEFAULT_DATABASE_KIND,
        help="database back-end to run the suite against (default: %(default)s)",
    )


def _db_kind(config: pytest.Config) -> DatabaseKind:
    return cast(DatabaseKind, config.getoption("--db"))


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {_db_kind(config)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _db_kind(config) == "postgresql":
        return
    skip = pytest.mark.skip(reason="postgres_only: run with --db=postgresql")
    for item in items:
        if item.get_closest_marker("postgres_only") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def db_kind(pytestconfig: pytest.Config) -> DatabaseKind:
    """``"sqlite"`` or ``"postgresql"``, as selected with ``--db``."""
    return _db_kind(pytestconfig)


@pytest.fixture(scope="session")
def postgres_server_url(db_kind: DatabaseKind) -> Iterator[str]:
    """URL of the session's throw-away server (its ``crossvault`` database, superuser).

    Started on first use, once per session (per worker under xdist), only with
    ``--db=postgresql``; tests requesting it are skipped otherwise.
    """
    if db_kind != "postgresql":
        pytest.skip("needs a PostgreSQL server: run with --db=postgresql")
    with running_postgres() as url:
        yield url


def _database_name(node_name: str) -> str:
    # PostgreSQL identifiers are at most 63 bytes; keep the test name for debugging.
    stem = re.sub(r"[^a-z0-9]+", "_", node_name.lower()).strip("_")[:40]
    return f"t_{stem}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, db_kind: DatabaseKind, tmp_path: Path
) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database private to this test.

    SQLite: a file in the test's ``tmp_path``. PostgreSQL: a new database on the session's
    server, dropped (``WITH (FORCE)``) at teardown.
    """
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path}/crossvault.db"
        return
    admin_url: str = request.getfixturevalue("postgres_server_url")
    name = _database_name(request.node.name)
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


@pytest.fixture(scope="session")
def migrated_template(
    db_kind: DatabaseKind,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> str:
    """A database migrated to the code's revision once per session: a SQLite file, or a
    PostgreSQL template database. ``migrated_database_url`` copies it per test."""
    from vault.store.schema import upgrade

    if db_kind == "sqlite":
        path = tmp_path_factory.mktemp("template") / "crossvault.db"
        upgrade(f"sqlite:///{path}")
        return str(path)
    admin_url: str = request.getfixturevalue("postgres_server_url")
    upgrade(create_database(admin_url, "crossvault_template"))
    return "crossvault_template"


@pytest.fixture
def migrated_database_url(
    request: pytest.FixtureRequest,
    db_kind: DatabaseKind,
    tmp_path: Path,
    migrated_template: str,
) -> Iterator[str]:
    """Like ``database_url``, but already migrated to the code's revision (a copy of the
    session's template, made by the real migrations)."""
    if db_kind == "sqlite":
        target = tmp_path / "crossvault.db"
        shutil.copyfile(migrated_template, target)
        yield f"sqlite:///{target}"
        return
    admin_url: str = request.getfixturevalue("postgres_server_url")
    name = _database_name(request.node.name)
    url = create_database(admin_url, name, template=migrated_template)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def pytest_configure(config: pytest.Config) -> None:
    """argon2id at a low cost for the suite (tests/vault/test_passwords.py checks the
    production parameters); every test still hashes and verifies for real."""
    from vault.crypto.passwords import use_cost

    use_cost(time_cost=1, memory_kib=1024)
