"""Key rotation: re-wrap every person's data key under a new keyring version.

Records are never re-encrypted — only the small wrapped data keys change. Rotation is
resumable: each batch commits on its own, so an interrupted run leaves some keys on the
old version and some on the new, all of them usable; running :func:`rotate` again
finishes the job instead of starting another version. Once no key uses an old version,
:func:`retire_unused_versions` destroys it.

The keyring file is changed only here, and only under an exclusive lock on
``keyring.json.lock`` beside it, so rotations in several processes (server workers, the
CLI) queue instead of interleaving. Under that lock the file is read again and compared
with this process's keyring: if another process rotated since this one loaded it, the
change is refused (:class:`KeyringError`; restart the process) rather than written over
the other process's versions, which would destroy the key every data key it re-wrapped
now depends on.

A process killed while the keyring file was being replaced may leave the temporary copy
beside it (``.keyring.json.<random>.tmp``); it holds key material, possibly of versions
retired since, so :func:`remove_keyring_leftovers` deletes such copies (retiring a
version runs it; so does ``crossvault serve`` at start).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

from vault.core.errors import KeyringError
from vault.keys.datakeys import DataKeys
from vault.keys.keyring import LocalKeyring
from vault.store.engine import transaction
from vault.store.tables import PersonDataKey

Progress = Callable[[int, int], None]  # (done, total)
# A keyring temporary lives for milliseconds (write, fsync, rename); one older than this
# was left by a process that died.
KEYRING_LEFTOVER_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class RotationReport:
    version: int
    rewrapped: int
    resumed: bool


def keys_behind(session: Session, version: int) -> int:
    count = session.exec(
        select(func.count())
        .select_from(PersonDataKey)
        .where(col(PersonDataKey.key_version) < version)
    ).one()
    return int(count)


@dataclass(frozen=True)
class Pacing:
    """How a rotation goes: data keys re-wrapped per committed batch, and who hears of
    each batch (``progress(done, total)``)."""

    batch_size: int = 500
    progress: Progress | None = None


def rotate(
    engine: Engine,
    keyring: LocalKeyring,
    keys: DataKeys,
    *,
    now: Callable[[], datetime],
    pacing: Pacing = Pacing(),
) -> RotationReport:
    """Add a keyring version (unless a rotation is unfinished) and re-wrap every key."""
    with keyring_mutation(keyring):
        with Session(engine) as session:
            resumed = keys_behind(session, keyring.current_version) > 0
        if not resumed:
            keyring.add_version()
        done = _rewrap_all(engine, keyring.current_version, keys, now, pacing)
    return RotationReport(keyring.current_version, done, resumed)


def _rewrap_all(
    engine: Engine, version: int, keys: DataKeys, now: Callable[[], datetime], pacing: Pacing
) -> int:
    with Session(engine) as session:
        total = keys_behind(session, version)
    done = 0
    while True:
        with transaction(engine) as session:
            rows = session.exec(
                select(PersonDataKey)
                .where(col(PersonDataKey.key_version) < version)
                .order_by(col(PersonDataKey.person_id))
                .limit(pacing.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                keys.rewrap(row, now=now())
                session.add(row)
        if not rows:
            return done
        done += len(rows)
        if pacing.progress is not None:
            pacing.progress(done, total)


def retire_unused_versions(engine: Engine, keyring: LocalKeyring) -> list[int]:
    """Destroy every keyring version older than the current one that no key uses (and
    any copy of the keyring a killed process left behind)."""
    with keyring_mutation(keyring), transaction(engine) as session:
        _settle_data_key_writers(session)
        in_use = set(session.exec(select(PersonDataKey.key_version).distinct()).all())
        retired = []
        for version in keyring.versions():
            if version != keyring.current_version and version not in in_use:
                keyring.retire(version)
                retired.append(version)
        _remove_leftovers(keyring.path, KEYRING_LEFTOVER_GRACE_SECONDS)
    return retired


def _settle_data_key_writers(session: Session) -> None:
    """Wait until no transaction that may have wrapped a data key under an old version is
    still uncommitted, and hold new ones off until the retirement is done.

    A person created concurrently wraps their key under the version current at that
    moment — possibly the one about to be retired — and commits a little later. Its row
    must be visible when the versions in use are counted. On PostgreSQL a ``SHARE`` lock
    on the key table waits for every open writer of it and blocks new ones until this
    transaction ends. On SQLite this transaction already began ``IMMEDIATE``: no other
    writer is open meanwhile.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {PersonDataKey.__tablename__} IN SHARE MODE"))


@contextmanager
def keyring_mutation(keyring: LocalKeyring) -> Iterator[None]:
    """Hold the keyring file's lock, after checking this process's keyring is what the
    file holds (:class:`KeyringError` if another process changed it meanwhile). A keyring
    from the environment has no file: nothing to lock, and it refuses changes itself."""
    path = keyring.path
    if path is None:
        yield
        return
    fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        on_disk = LocalKeyring.load(path)
        mine = (keyring.current_version, keyring.versions())
        if (on_disk.current_version, on_disk.versions()) != mine:
            raise KeyringError(
                f"keyring {path} was changed by another process (now current version "
                f"{on_disk.current_version}, versions {list(on_disk.versions())}; this "
                f"process holds {mine[0]}, {list(mine[1])}); restart it before rotating"
            )
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_keyring_leftovers(
    keyring: LocalKeyring, older_than_seconds: float = KEYRING_LEFTOVER_GRACE_SECONDS
) -> int:
    """Delete temporary copies of the keyring file a killed process left behind; how
    many went."""
    if keyring.path is None:
        return 0
    fd = os.open(_lock_path(keyring.path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _remove_leftovers(keyring.path, older_than_seconds)
    finally:
        os.close(fd)


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _remove_leftovers(path: Path | None, older_than_seconds: float) -> int:
    if path is None:
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if leftover.stat().st_mtime <= cutoff:
                leftover.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
