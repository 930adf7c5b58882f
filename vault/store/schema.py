"""The database schema: Alembic migrations (``vault/store/migrations``) and start-up checks.

* :func:`upgrade` migrates a database to the revision this code expects (``crossvault db
  upgrade``). The embedded SQLite default does it on every start; a deployment
  (``DATABASE_URL`` set) does it explicitly, once per release, before starting servers.
* :func:`check_schema` is what a deployment's start-up runs instead: it reads, never
  writes, and refuses with one line (:class:`SchemaError`) unless the database is at
  exactly the code's revision.
* :func:`reachable` turns "cannot connect" into one line (:class:`DatabaseUnreachable`)
  naming where, and why, without the password.

The Alembic configuration is built here in code; no ``alembic.ini`` is read at run time
(the one at the repository root is for developers writing revisions).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, MetaData, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import SQLModel

from vault.core.errors import VaultError
from vault.store.engine import is_sqlite, make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


class SchemaError(VaultError):
    """The database's schema is not the one this code expects (empty, older, or
    unknown). One line saying which and what to do."""

    code = "schema_mismatch"


class DatabaseUnreachable(VaultError):
    """The database cannot be connected to. One line naming host:port (or the SQLite
    file) and the reason; never the password."""

    code = "database_unreachable"


class SchemaStatus(Enum):
    CURRENT = "current"
    EMPTY = "empty"  # none of our tables, no revision
    OLDER = "older"  # a revision this code knows, behind its head
    UNKNOWN = "unknown"  # a revision this code does not know (a newer release's?)
    UNVERSIONED = "unversioned"  # tables but no revision: not made by our migrations


@dataclass(frozen=True)
class SchemaState:
    status: SchemaStatus
    current: str | None  # the database's revision
    expected: str  # the code's head revision

    def refusal(self, where: str) -> SchemaError:
        upgrade = "run `crossvault db upgrade`"
        message = {
            SchemaStatus.EMPTY: f"the database at {where} has no crossvault schema: {upgrade}",
            SchemaStatus.OLDER: (
                f"schema at revision {self.current}, code expects {self.expected}: {upgrade}"
            ),
            SchemaStatus.UNKNOWN: (
                f"schema at revision {self.current}, which this crossvault does not know "
                f"(written by a newer release?); code expects {self.expected}"
            ),
            SchemaStatus.UNVERSIONED: (
                f"the database at {where} holds tables but no schema revision (not made by "
                "`crossvault db upgrade`); use an empty database"
            ),
        }.get(self.status, f"schema at revision {self.current} is current")
        return SchemaError(message)


# -- Alembic set-up ----------------------------------------------------------------------


def model_metadata() -> MetaData:
    """``SQLModel.metadata`` holding every table of the code: imports every ``vault``
    module (tables live in ``vault.models`` and beside the use-cases that own them), so
    a table in a new module needs no registration to reach migrations and their tests."""
    import vault

    for module in pkgutil.walk_packages(vault.__path__, "vault."):
        if not module.name.startswith("vault.store.migrations"):
            importlib.import_module(module.name)
    return SQLModel.metadata


def alembic_config(connection: Connection | None = None) -> Config:
    """A configuration for ``vault/store/migrations``; with ``connection``, env.py runs on it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code expects (the single head of ``vault/store/migrations``)."""
    head = _scripts().get_current_head()
    assert head is not None, "vault/store/migrations holds no revision"
    return head


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


# -- reading the state -------------------------------------------------------------------


def schema_state(connection: Connection) -> SchemaState:
    """Where ``connection``'s database stands relative to the code. Reads only."""
    expected = head_revision()
    heads = MigrationContext.configure(connection).get_current_heads()
    if len(heads) > 1:
        return SchemaState(SchemaStatus.UNKNOWN, ",".join(heads), expected)
    if not heads:
        ours = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
        status = SchemaStatus.UNVERSIONED if ours else SchemaStatus.EMPTY
        return SchemaState(status, None, expected)
    current = heads[0]
    if current == expected:
        return SchemaState(SchemaStatus.CURRENT, current, expected)
    status = SchemaStatus.OLDER if _known(current) else SchemaStatus.UNKNOWN
    return SchemaState(status, current, expected)


def check_schema(engine: Engine) -> None:
    """Refuse (:class:`SchemaError`, :class:`DatabaseUnreachable`) unless the database is
    at exactly the code's revision. Writes nothing."""
    with reachable(engine) as connection:
        state = schema_state(connection)
        connection.rollback()
    if state.status is not SchemaStatus.CURRENT:
        raise state.refusal(describe_location(engine))


def current_state(url: str) -> SchemaState:
    """The state of the database at ``url`` (``crossvault db current``). Reads only: a
    missing SQLite file is reported empty, not created."""
    database = make_url(url).database
    if is_sqlite(url) and database and not Path(database).exists():
        return SchemaState(SchemaStatus.EMPTY, None, head_revision())
    engine = make_engine(url)
    try:
        with reachable(engine) as connection:
            state = schema_state(connection)
            connection.rollback()
        return state
    finally:
        engine.dispose()


# -- migrating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UpgradeReport:
    before: str | None
    after: str
    where: str

    def describe(self) -> str:
        if self.before == self.after:
            return f"schema at {self.where} already at revision {self.after}"
        return f"schema at {self.where} upgraded from {self.before or 'empty'} to {self.after}"


def upgrade(url: str) -> UpgradeReport:
    """Migrate the database at ``url`` to the code's revision (idempotent)."""
    engine = make_engine(url)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> UpgradeReport:
    """Migrate ``engine``'s database; refuses an unknown or unversioned one untouched."""
    where = describe_location(engine)
    with reachable(engine) as connection:
        state = schema_state(connection)
        connection.rollback()
    if state.status in (SchemaStatus.UNKNOWN, SchemaStatus.UNVERSIONED):
        raise state.refusal(where)
    if state.status is not SchemaStatus.CURRENT:
        with reachable(engine) as connection:
            command.upgrade(alembic_config(connection), "head")
    return UpgradeReport(state.current, state.expected, where)


# -- connecting --------------------------------------------------------------------------


@contextmanager
def reachable(engine: Engine) -> Iterator[Connection]:
    """A connection to ``engine``; :class:`DatabaseUnreachable` if none can be made."""
    try:
        connection = engine.connect()
    except SQLAlchemyError as error:
        raise DatabaseUnreachable(
            f"cannot reach the database at {describe_location(engine)}: {_reason(error, engine)}"
        ) from None
    with connection:
        yield connection


def describe_location(engine: Engine) -> str:
    """``host:port/name`` for a server, the file for SQLite; never credentials."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    host = url.host or url.query.get("host")
    if not isinstance(host, str) or host.startswith("/"):
        return f"{host or 'the default local socket'} (database {url.database})"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{url.port or 5432}/{url.database}"


_REASONS = (
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"timeout expired|timed out", re.I), "timed out"),
    (re.compile(r"could not translate host name|name or service not known", re.I), "unknown host"),
    (re.compile(r"no route to host|network is unreachable", re.I), "no route to host"),
    (re.compile(r"password authentication failed|no password supplied", re.I), "login refused"),
    (re.compile(r'role "[^"]*" does not exist', re.I), "login refused (no such user)"),
    (re.compile(r'database "[^"]*" does not exist', re.I), "no such database"),
    (re.compile(r"unable to open database file", re.I), "cannot open the file"),
    (re.compile(r"file is not a database", re.I), "not an SQLite database"),
)


def _reason(error: SQLAlchemyError, engine: Engine) -> str:
    """A short, password-free reason. The driver's text is matched, not shown whole."""
    text = str(error.orig if isinstance(error, DBAPIError) else error)
    for pattern, reason in _REASONS:
        if pattern.search(text):
            return reason
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    password = make_url(engine.url).password
    if password:
        first = first.replace(str(password), "***")
    return first[:200]
