"""Key rotation: re-wrap every person's data key under a new keyring version.

Records are never re-encrypted — only the small wrapped data keys change. Rotation is
resumable: each batch commits on its own, so an interrupted run leaves some keys on the
old version and some on the new, all of them usable; running :func:`rotate` again
finishes the job instead of starting another version. Once no key uses an old version,
:func:`retire_unused_versions` destroys it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from vault.datakeys import DataKeys
from vault.db import transaction
from vault.keyring import LocalKeyring
from vault.models import PersonDataKey

Progress = Callable[[int, int], None]  # (done, total)


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


def rotate(
    engine: Engine,
    keyring: LocalKeyring,
    keys: DataKeys,
    *,
    now: Callable[[], datetime],
    batch_size: int = 500,
    progress: Progress | None = None,
) -> RotationReport:
    """Add a keyring version (unless a rotation is unfinished) and re-wrap every key."""
    with Session(engine) as session:
        behind = keys_behind(session, keyring.current_version)
    resumed = behind > 0
    if not resumed:
        keyring.add_version()
        with Session(engine) as session:
            behind = keys_behind(session, keyring.current_version)
    done = _rewrap_all(engine, keyring.current_version, keys, now, batch_size, behind, progress)
    return RotationReport(keyring.current_version, done, resumed)


def _rewrap_all(
    engine: Engine,
    version: int,
    keys: DataKeys,
    now: Callable[[], datetime],
    batch_size: int,
    total: int,
    progress: Progress | None,
) -> int:
    done = 0
    while True:
        with transaction(engine) as session:
            rows = session.exec(
                select(PersonDataKey)
                .where(col(PersonDataKey.key_version) < version)
                .order_by(col(PersonDataKey.person_id))
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                keys.rewrap(row, now=now())
                session.add(row)
        if not rows:
            return done
        done += len(rows)
        if progress is not None:
            progress(done, total)


def retire_unused_versions(engine: Engine, keyring: LocalKeyring) -> list[int]:
    """Destroy every keyring version older than the current one that no key uses."""
    with Session(engine) as session:
        in_use = set(session.exec(select(PersonDataKey.key_version).distinct()).all())
    retired = []
    for version in keyring.versions():
        if version != keyring.current_version and version not in in_use:
            keyring.retire(version)
            retired.append(version)
    return retired
