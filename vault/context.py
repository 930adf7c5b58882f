"""The :class:`Vault`: the engine, keyring, data keys, blob store and clock, opened
together from :class:`~vault.settings.Settings`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlmodel import Session, select

from vault.blobs import BlobStore
from vault.clock import Clock, SimulatedClock, SystemClock
from vault.datakeys import DataKeys
from vault.db import make_engine
from vault.keyring import LocalKeyring, open_keyring
from vault.models import PersonDataKey
from vault.schema import create_all
from vault.settings import Settings


@dataclass
class Vault:
    engine: Engine
    keyring: LocalKeyring
    keys: DataKeys
    blobs: BlobStore
    clock: Clock

    @classmethod
    def open(cls, settings: Settings, *, create_schema: bool = True) -> Vault:
        """Open (and on first run create) everything. Raises ``KeyringError`` rather
        than generate a new keyring over a database that already holds data keys."""
        _ensure_private_dir(settings.data_dir)
        engine = make_engine(settings.resolved_database_url())
        if create_schema:
            create_all(engine)
        keyring = open_keyring(
            settings.data_dir,
            env_value=settings.keyring,
            may_create=not holds_data_keys(engine),
        )
        clock: Clock = SimulatedClock() if settings.clock == "simulated" else SystemClock()
        return cls(engine, keyring, DataKeys(keyring), BlobStore(settings.blob_dir), clock)

    def close(self) -> None:
        self.keys.cache.clear()
        self.engine.dispose()


def holds_data_keys(engine: Engine) -> bool:
    if not inspect(engine).has_table(PersonDataKey.__tablename__):  # type: ignore[arg-type]
        return False
    with Session(engine) as session:
        return session.exec(select(PersonDataKey.person_id).limit(1)).first() is not None


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
