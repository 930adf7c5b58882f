"""Deposits that never completed: abandoned once they expire (their pending records,
blobs and resumable uploads go), or discarded at once by their depositor (a failed
all-or-nothing STOW-RS request). Blobs are removed only after the rows' deletion commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from vault.access.judge import Caller
from vault.radiology.base import DepositService
from vault.radiology.receipts import CollectionReport
from vault.radiology.rows import abandon, locked_deposit
from vault.store import handles
from vault.store.radiology_tables import OPEN, RadiologyDeposit

Leftovers = tuple[list[tuple[str, str]], list[str]]  # (person, blob) pairs, upload ids


class Housekeeping(DepositService):
    def collect_abandoned(self, *, now: datetime | None = None) -> CollectionReport:
        """Abandon expired open deposits (their pending records, blobs and resumable
        uploads go) and remove temporaries older than ``stale_upload_seconds``."""
        at = now or self.judge.now()

        def expire(session: Session, _: datetime) -> list[Leftovers]:
            expired = session.exec(
                select(RadiologyDeposit).where(
                    RadiologyDeposit.state == OPEN, col(RadiologyDeposit.expires_at) <= at
                )
            ).all()
            return [abandon(session, deposit) for deposit in expired]

        leftovers = self.transact(expire)
        removed_records = sum(self._remove(*leftover) for leftover in leftovers)
        removed = self.vault.blobs.collect_temporaries(self.stale_upload_seconds)
        return CollectionReport(len(leftovers), removed_records, removed)

    def discard_deposit(self, caller: Caller, deposit_id: str) -> None:
        """Abandon the caller's own open deposit now (an all-or-nothing STOW-RS request
        that failed): nothing of it is kept."""

        def discard(session: Session, now: datetime) -> Leftovers | None:
            person_id = handles.person_of(session, deposit_id, handles.RADIOLOGY_DEPOSIT)
            deposit = locked_deposit(session, person_id, deposit_id)
            mine = deposit.institution_id == caller.actor.institution_id
            return abandon(session, deposit) if mine and deposit.state == OPEN else None

        leftover = self.transact(discard)
        if leftover is not None:
            self._remove(*leftover)

    def _remove(self, blobs: Sequence[tuple[str, str]], uploads: Sequence[str]) -> int:
        for person_id, blob_name in blobs:
            self.vault.blobs.delete(person_id, blob_name)
        for upload_id in uploads:
            self.uploads.forget(upload_id)
        return len(blobs)

    def forget_live_uploads(self) -> None:
        """Drop the in-memory state of resumable uploads (as a restart would)."""
        self.uploads.live.clear()
