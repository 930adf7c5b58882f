"""The :class:`Vault`: the engine, keyring, data keys, blob store and clock, opened
together from :class:`~vault.core.settings.Settings`.

Opening refuses with one line (a :class:`~vault.core.errors.VaultError`) and writes nothing
when the set-up is wrong. In order:

1. the settings themselves (checked when :class:`~vault.core.settings.Settings` is built:
   ``DATABASE_URL`` scheme, placeholder operator secret);
2. the keyring: a supplied one (``CROSSVAULT_KEYRING`` or ``keyring.json`` in the data
   dir) must be readable and sound; when none is supplied, a deployment (``DATABASE_URL``
   set, not demo) refuses — only the embedded default and demo mode generate one;
3. the database: reachable (:class:`~vault.store.schema.DatabaseUnreachable`) and, for a
   deployment, at exactly the code's schema revision (:class:`~vault.store.schema.SchemaError`;
   run ``crossvault db upgrade``). The embedded default migrates itself here instead.

Only then are the data dir, a new keyring or the SQLite file created.

:meth:`Vault.collect_orphaned_blobs` is the start-up housekeeping ``crossvault serve``
runs: sealed objects a crash left without their record (see :mod:`vault.store.blobs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from vault.core.clock import Clock, SimulatedClock, SystemClock
from vault.core.errors import KeyringError
from vault.core.settings import Settings, bucket_and_prefix
from vault.keys.datakeys import DataKeys
from vault.keys.keyring import (
    KEYRING_ENV,
    KEYRING_FILENAME,
    FollowedKeyring,
    LocalKeyring,
    open_keyring,
)
from vault.store.blobs import BlobStore
from vault.store.engine import is_sqlite, make_engine
from vault.store.s3blobs import S3BlobStore, S3Location, connect
from vault.store.schema import SchemaError, UpgradeReport, check_schema, upgrade, upgrade_engine
from vault.store.tables import PersonDataKey, Record

# An object published but not yet named by a committed record is at most seconds old (its
# record is committed right after the rename); an hour keeps collection clear of any
# live writer, in this process or another one sharing the blob store.
ORPHAN_GRACE_SECONDS = 3600.0


@dataclass
class Vault:
    engine: Engine
    keyring: LocalKeyring
    keys: DataKeys
    blobs: BlobStore
    clock: Clock

    @classmethod
    def open(cls, settings: Settings) -> Vault:
        """Check everything (see the module docstring), then open it. The embedded default
        migrates its schema and generates its keyring on first run; a deployment does
        neither and refuses instead."""
        keyring = _supplied_keyring(settings)
        if keyring is None and not settings.may_generate_keyring:
            raise _keyring_required(settings)
        remote = _remote_blobs(settings)  # before anything is written
        url = settings.resolved_database_url()
        if settings.embedded:
            _ensure_private_dir(settings.data_dir)
        else:
            _refuse_missing_sqlite_file(url)
        engine = make_engine(url)
        try:
            if settings.embedded:
                upgrade_engine(engine)
            else:
                check_schema(engine)
            if keyring is None:
                _ensure_private_dir(settings.data_dir)
                keyring = open_keyring(
                    settings.data_dir, env_value=None, may_create=not holds_data_keys(engine)
                )
            _ensure_private_dir(settings.data_dir)
            blobs = remote(settings.blob_dir) if remote else BlobStore(settings.blob_dir)
        except BaseException:
            engine.dispose()
            raise
        clock: Clock = SimulatedClock() if settings.clock == "simulated" else SystemClock()
        if keyring.path is not None:
            keyring = FollowedKeyring(keyring)
            if keyring.checkpoint_key() is None:  # a keyring from before checkpoints
                keyring.add_checkpoint_key()
        return cls(engine, keyring, DataKeys(keyring), blobs, clock)

    def collect_orphaned_blobs(self, older_than_seconds: float = ORPHAN_GRACE_SECONDS) -> int:
        """Remove sealed objects no record names, older than ``older_than_seconds`` (a
        crash between publishing an object and committing its record, or between
        committing a record's deletion and removing its object); how many went."""

        def named(person_id: str) -> set[str]:
            with Session(self.engine) as session:
                names = session.exec(
                    select(Record.blob_name).where(
                        Record.person_id == person_id, col(Record.blob_name).is_not(None)
                    )
                ).all()
            return {name for name in names if name is not None}

        return self.blobs.collect_orphans(named, older_than_seconds)

    def close(self) -> None:
        self.keys.cache.clear()
        self.engine.dispose()
        self.blobs.close()


def _remote_blobs(settings: Settings) -> Callable[[Path], BlobStore] | None:
    """For ``CROSSVAULT_BLOB_STORE=s3://...``: check the bucket answers (refusing in one
    line otherwise) and return how to open the store over a local staging dir."""
    if settings.blob_store is None:
        return None
    location = S3Location(*bucket_and_prefix(settings.blob_store))
    client = connect(location)
    return lambda staging: S3BlobStore(staging, location, client)


def upgrade_database(settings: Settings) -> UpgradeReport:
    """``crossvault db upgrade``: migrate the configured database to the code's revision
    (for the embedded default, creating the data dir first)."""
    if settings.embedded:
        _ensure_private_dir(settings.data_dir)
    return upgrade(settings.resolved_database_url())


def provision(settings: Settings) -> UpgradeReport:
    """What an operator does once before a deployment's first start (and a test before
    opening a vault on its fresh database): migrate the schema and, unless a keyring is
    supplied, create ``keyring.json`` in the data dir. Never replaces a keyring, and never
    creates one over a database that already holds data keys."""
    report = upgrade_database(settings)
    if _supplied_keyring(settings) is None:
        _ensure_private_dir(settings.data_dir)
        engine = make_engine(settings.resolved_database_url())
        try:
            open_keyring(settings.data_dir, env_value=None, may_create=not holds_data_keys(engine))
        finally:
            engine.dispose()
    return report


def holds_data_keys(engine: Engine) -> bool:
    if not inspect(engine).has_table(PersonDataKey.__tablename__):  # type: ignore[arg-type]
        return False
    with Session(engine) as session:
        return session.exec(select(PersonDataKey.person_id).limit(1)).first() is not None


def _supplied_keyring(settings: Settings) -> LocalKeyring | None:
    """The keyring the operator supplied, read and checked (no writes); None if none."""
    if settings.keyring is not None:
        return LocalKeyring.from_env(settings.keyring)
    if os.path.lexists(settings.data_dir / KEYRING_FILENAME):
        return LocalKeyring.load(settings.data_dir / KEYRING_FILENAME)
    return None


def _keyring_required(settings: Settings) -> KeyringError:
    path = settings.data_dir / KEYRING_FILENAME
    return KeyringError(
        f"no keyring: with DATABASE_URL set, supply it (${KEYRING_ENV}, or {path}); "
        "crossvault generates one only for the embedded default or CROSSVAULT_DEMO=1"
    )


def _refuse_missing_sqlite_file(url: str) -> None:
    """An explicit SQLite URL naming no file: say so instead of creating an empty one."""
    if not is_sqlite(url):
        return
    database = make_url(url).database
    if database and not Path(database).exists():
        raise SchemaError(f"no database file at {database}: run `crossvault db upgrade`")


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
