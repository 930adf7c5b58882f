"""Database engines: SQLite (WAL) in the data directory by default, PostgreSQL by URL.

Every transaction that can append to the audit log is a write, so on SQLite each
:func:`transaction` starts with ``BEGIN IMMEDIATE``: writers queue on SQLite's lock instead
of failing half-way with ``SQLITE_BUSY`` when they upgrade from reading to writing. Pure
lookups use :func:`reading` instead, which reads a snapshot and queues for nothing.

**Durability on SQLite is a group commit.** A commit writes its WAL frames without an
fsync (``synchronous=NORMAL``) and gives up the write lock at once; :func:`transaction`
then returns only after an fsync of the WAL that *began after* that commit has finished
(:class:`_GroupSync`). Committers waiting together share one fsync, and none of them
holds the lock meanwhile. What a caller sees is what ``synchronous=FULL`` gave: when
``transaction`` returns (and so before any response is sent), the commit is on disk.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
_READ_ONLY = "crossvault_read_only"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url`` with crossvault's connection settings."""
    if is_sqlite(url):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )
    database = engine.url.database
    group = _GroupSync(f"{database}-wal") if database and database != ":memory:" else None
    engine._crossvault_group_sync = group  # type: ignore[attr-defined]
    synchronous = "NORMAL" if group is not None else "FULL"

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    writer = _WriterTurn(f"{database}-writer" if group is not None else None)

    # BEGIN goes to the driver directly: through ``exec_driver_sql`` (SQLAlchemy's
    # execution machinery) it was a sixth of an empty transaction's Python calls
    # (cProfile: 903,001 against 738,001 calls for 3,000; docs/audit.md, stop 31).
    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        if connection.get_execution_options().get(_READ_ONLY):
            dbapi_connection.execute("BEGIN")  # a WAL snapshot: never waits for writers
            return
        writer.take(dbapi_connection)
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            writer.give_back(dbapi_connection)
            raise

    _give_back_after(engine.dialect, writer)

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, _record: Any) -> None:
        writer.give_back(dbapi_connection)  # a connection returned mid-transaction

    return engine


def _give_back_after(dialect: Any, writer: _WriterTurn) -> None:
    """Give the writer's turn back once the DBAPI's ``COMMIT`` (or ``ROLLBACK``) has run.

    SQLAlchemy's ``commit`` and ``rollback`` events fire *before* the statement: a turn
    given back there let the next writer's ``BEGIN IMMEDIATE`` meet the ``COMMIT`` still
    under way, and wait in SQLite's busy handler (a 1 ms sleep at least) while holding the
    turn. The dialect is this engine's own instance, so only this engine is changed."""

    def then_give_back(end: Callable[[Any], None]) -> Callable[[Any], None]:
        def ended(connection: Any) -> None:  # the pool's proxy of the DBAPI connection
            try:
                end(connection)
            finally:
                writer.give_back(getattr(connection, "dbapi_connection", connection))

        return ended

    dialect.do_commit = then_give_back(dialect.do_commit)
    dialect.do_rollback = then_give_back(dialect.do_rollback)


class _WriterTurn:
    """One SQLite writer at a time, queued on a fair lock within the process and on an
    ``flock`` of ``<database>-writer`` across the processes of one server.

    Without it, writers all ``BEGIN IMMEDIATE`` at once and the losers sleep-poll in
    SQLite's busy handler (1, 2, 5 … 100 ms naps): throughput drops and the 99th-percentile
    latency reaches seconds. Threads queue on the lock; the process's one turn then waits
    in ``flock``, which wakes the moment another process's writer lets go (a process that
    dies lets go too). The lock file is opened once per process (not inherited across a
    fork, where it would be shared).
    """

    def __init__(self, lock_path: str | None = None) -> None:
        self._lock = threading.Lock()
        self._holder: Any = None
        self._lock_path = lock_path
        self._file: tuple[int, int] | None = None  # (pid, fd)

    def take(self, dbapi_connection: Any) -> None:
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked (waited for another writer)")
        try:
            fd = self._descriptor()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        self._holder = dbapi_connection

    def give_back(self, dbapi_connection: Any) -> None:
        if self._holder is not None and self._holder is dbapi_connection:
            self._holder = None
            fd = self._descriptor()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self._lock.release()

    def _descriptor(self) -> int | None:
        if self._lock_path is None:
            return None
        pid = os.getpid()
        if self._file is None or self._file[0] != pid:
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            self._file = (pid, os.open(self._lock_path, flags, 0o600))
        return self._file[1]


class _GroupSync:
    """Group commit for one SQLite database's WAL (see the module's docstring).

    Commits are numbered as they finish. A committer waits until the number of the last
    commit an fsync covered reaches its own; whoever finds no fsync running starts one,
    covering every commit finished by then, and the others wait for it.
    """

    def __init__(self, wal_path: str) -> None:
        self._wal = wal_path
        self._changed = threading.Condition()
        self._committed = 0  # commits finished (their frames written)
        self._durable = 0  # commits an fsync has covered
        self._syncing = False
        self._wal_inode: int | None = None

    def wait_durable(self) -> int:
        """Call after a commit returned: returns (the commit's number) once it is on disk."""
        with self._changed:
            self._committed += 1
            mine = self._committed
            while self._durable < mine:
                if self._syncing:
                    self._changed.wait()
                else:
                    self._lead_sync()
            return mine

    def _lead_sync(self) -> None:
        covers = self._committed
        self._syncing = True
        self._changed.release()  # others may commit, and queue, while the disk works
        try:
            self._sync_wal()
        finally:
            self._changed.acquire()
            self._syncing = False
            self._changed.notify_all()
        self._durable = max(self._durable, covers)

    def _sync_wal(self) -> None:
        try:
            fd = os.open(self._wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # no WAL: SQLite checkpointed it into the database file, synced
        try:
            os.fsync(fd)
            inode = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        if inode != self._wal_inode:  # a new WAL file: make its directory entry durable
            directory = os.open(os.path.dirname(self._wal) or ".", os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self._wal_inode = inode


_DURABLE = "crossvault.durable"


def _wait_durable(session: Session) -> None:
    """Wait until ``session``'s last commit is on disk, once per commit: whichever of
    :func:`transaction` and the after-commit actions comes first waits for both."""
    if session.info.pop(_DURABLE, False):
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    group: _GroupSync | None = getattr(engine, "_crossvault_group_sync", None)
    if group is not None:
        group.wait_durable()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any exception. When it
    returns after a commit, the commit is durable (on SQLite too: :class:`_GroupSync`)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    _wait_durable(session)


def _read_only(engine: Engine) -> Engine:
    """The engine's read-only twin (same pool), made once per engine."""
    found: Engine | None = getattr(engine, "_crossvault_read_only", None)
    if found is None:
        found = engine.execution_options(**{_READ_ONLY: True})
        engine._crossvault_read_only = found  # type: ignore[attr-defined]
    return found


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only unit of work (a consistent snapshot). On SQLite it neither takes the
    write lock nor waits for writers; anything it writes is rolled back."""
    with Session(_read_only(engine)) as session:
        try:
            yield session
        finally:
            session.rollback()


_AFTER_COMMIT = "crossvault.after_commit"


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once ``session``'s current transaction has committed durably;
    never if it rolls back."""
    pending: list[Callable[[], None]] | None = session.info.get(_AFTER_COMMIT)
    if pending is None:
        pending = session.info[_AFTER_COMMIT] = []
        event.listen(session, "after_commit", _run_pending)
        event.listen(session, "after_rollback", _drop_pending)
    pending.append(action)


def _run_pending(session: Session) -> None:
    actions = session.info.get(_AFTER_COMMIT) or []
    session.info[_AFTER_COMMIT] = []
    if actions:  # what they undo outside the database must not outlive a lost commit
        _wait_durable(session)
        session.info[_DURABLE] = True  # transaction() need not wait again
    for action in actions:
        action()


def _drop_pending(session: Session) -> None:
    session.info[_AFTER_COMMIT] = []
