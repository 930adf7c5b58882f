"""The files of a radiology deposit: one record each, streamed in one request
(:meth:`DepositFiles.begin_file`) or resumable across requests (tus:
:meth:`DepositFiles.create_upload` / :meth:`DepositFiles.resume_upload`). Either way the
body goes through :class:`~vault.radiology.ingest.SealedIngest` into a temporary blob, then
into the blob store as a ``pending`` record (:meth:`DepositFiles.store`): nothing of a
deposit is visible before it completes. ``application/dicom`` becomes
``radiology_images``; ``application/pdf`` and ``text/plain`` become ``radiology_report``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session

from policies.vocabulary import Action
from vault.access.judge import Caller
from vault.core.errors import NotFound, VaultError
from vault.core.ids import new_id
from vault.radiology.base import IMAGES, DepositService, DepositStep
from vault.radiology.ingest import FileTooLarge, Ingested
from vault.radiology.receipts import FileReceipt, UploadStatus
from vault.radiology.refusals import category_of, refusal_for, refused, state_problem
from vault.radiology.rows import (
    file_named,
    flush_unique,
    locked_deposit,
    pending_record,
    pin,
    pinned,
    title_of,
)
from vault.radiology.uploads import FileContext, FileUpload, HeldUpload, ResumableUpload
from vault.records.sealed import seal_metadata, seal_title
from vault.registry.persons import person_name
from vault.store import handles
from vault.store.radiology_tables import STORED, UPLOADING, RadiologyDeposit, RadiologyFile
from vault.store.tables import Person


@dataclass(frozen=True)
class FileAsk:
    """One file a depositor wants to add (or resume), as the policy is asked about it."""

    deposit_id: str
    name: str
    content_type: str
    category: str
    row: RadiologyFile | None = None  # a resumable upload already registered
    action: Action = Action.DEPOSIT_RADIOLOGY


class DepositFiles(DepositService):
    # -- files streamed in one request --------------------------------------------------------

    def begin_file(
        self,
        caller: Caller,
        deposit_id: str,
        name: str,
        content_type: str,
        *,
        study_instance_uid: str | None = None,
    ) -> FileUpload:
        """Decide, then open a sealed temporary for one file of the deposit (a DICOM file
        of the study ``study_instance_uid``, if given)."""
        wanted = FileAsk(deposit_id, name, content_type, category_of(name, content_type))
        context = self._file_context(caller, wanted)
        if study_instance_uid is not None:
            context = replace(context, study_instance_uid=study_instance_uid)
        return FileUpload(self, self.vault.blobs, self.limits, context)

    # -- resumable uploads (tus) ---------------------------------------------------------------

    def create_upload(
        self, caller: Caller, deposit_id: str, name: str, content_type: str, length: int
    ) -> UploadStatus:
        """Register a resumable upload of ``length`` bytes; its sealed file starts now."""
        wanted = FileAsk(deposit_id, name, content_type, category_of(name, content_type))
        if length < 0:
            raise ValueError("Upload-Length is a non-negative integer")
        if length > self.max_file_bytes:
            raise FileTooLarge(self.max_file_bytes)
        context = self._file_context(caller, wanted)
        main, _ = self.uploads.paths(context.file_id)
        try:
            self.transact(lambda session, now: self._register(session, context, length, now))
        except BaseException:
            main.unlink(missing_ok=True)
            raise
        return UploadStatus(context.file_id, 0, length)

    def _register(self, session: Session, context: FileContext, length: int, now: datetime) -> None:
        session.add(
            RadiologyFile(
                id=context.file_id,
                person_id=context.person_id,
                deposit_id=context.deposit_id,
                name=context.name,
                content_type=context.content_type,
                category=context.category,
                record_id=context.record_id,
                state=UPLOADING,
                upload_length=length,
                created_at=now,
                updated_at=now,
            )
        )
        flush_unique(session)
        self.uploads.start(context)

    def upload_status(self, caller: Caller, deposit_id: str, upload_id: str) -> UploadStatus:
        """Where a resumable upload stands (tus ``HEAD``)."""
        context, length = self._upload_context(
            caller, deposit_id, upload_id, Action.READ_DEPOSIT_RECEIPT
        )
        lock_fd = self.uploads.lock(context)
        try:
            live = self.uploads.take_live(context)
            self.uploads.live.put(upload_id, live)
            return UploadStatus(upload_id, live.ingest.size, length)
        finally:
            os.close(lock_fd)

    def resume_upload(
        self, caller: Caller, deposit_id: str, upload_id: str, offset: int
    ) -> ResumableUpload:
        """Take the upload for one PATCH starting at ``offset`` (which must be where it
        stands). The caller then feeds the body and pauses, finishes or discards."""
        context, length = self._upload_context(
            caller, deposit_id, upload_id, Action.DEPOSIT_RADIOLOGY
        )
        lock_fd = self.uploads.lock(context)
        try:
            live = self.uploads.take_live(context)
        except BaseException:
            os.close(lock_fd)
            raise
        upload = ResumableUpload(self, self.uploads, context, HeldUpload(length, lock_fd, live))
        if offset != upload.offset:
            upload.pause()
            raise refused("upload_offset_mismatch")
        return upload

    def _upload_context(
        self, caller: Caller, deposit_id: str, upload_id: str, action: Action
    ) -> tuple[FileContext, int]:
        with Session(self.vault.engine) as session:
            person_id = handles.person_of(session, deposit_id, handles.RADIOLOGY_DEPOSIT)
            row = session.get(RadiologyFile, (person_id, upload_id))
        if row is None or row.deposit_id != deposit_id or row.upload_length is None:
            step = DepositStep(IMAGES.category, action)
            # Another institution's deposit and a missing one: the same audited refusal.
            self.transact(
                lambda session, now: self.own_deposit(session, caller, deposit_id, step, now)
            )
            raise NotFound("no such upload")
        wanted = FileAsk(deposit_id, row.name, row.content_type, row.category, row, action)
        context = self._file_context(caller, wanted)
        if row.state != UPLOADING:
            raise refused("upload_complete")
        return context, row.upload_length

    def forget_upload(self, upload_id: str, deposit_id: str) -> None:
        """Drop a refused resumable upload: its temporaries and its row."""
        self.uploads.forget(upload_id)

        def forget(session: Session, now: datetime) -> None:
            person_id = handles.person_of(session, deposit_id, handles.RADIOLOGY_DEPOSIT)
            row = session.get(RadiologyFile, (person_id, upload_id))
            if row is not None and row.deposit_id == deposit_id and row.state == UPLOADING:
                session.delete(row)

        self.transact(forget)

    # -- the decision, and what sealing needs --------------------------------------------------

    def _file_context(self, caller: Caller, wanted: FileAsk) -> FileContext:
        """Decide (audited) that the caller may add the file's category to the deposit
        now, and gather what sealing the file needs. Raises after the decision is
        committed."""

        def decide(session: Session, now: datetime) -> FileContext | VaultError:
            step = DepositStep(wanted.category, wanted.action)
            deposit = self.own_deposit(session, caller, wanted.deposit_id, step, now)
            if isinstance(deposit, NotFound):
                return deposit
            decision = self.decide_deposit(session, caller, deposit, step, now)
            if not decision.allowed:
                return refusal_for(session, caller, deposit, decision, now)
            return state_problem(deposit, now) or self._gather(session, caller, deposit, wanted)

        return self.transact(decide)

    def _gather(
        self, session: Session, caller: Caller, deposit: RadiologyDeposit, wanted: FileAsk
    ) -> FileContext | VaultError:
        row = wanted.row
        if row is None and file_named(session, deposit, wanted.name) is not None:
            return refused("file_exists")
        key = self.vault.keys.get(session, deposit.person_id)
        person = session.get(Person, deposit.person_id)
        assert person is not None
        return FileContext(
            deposit_id=deposit.id,
            person_id=deposit.person_id,
            file_id=row.id if row is not None else new_id(),
            record_id=row.record_id if row is not None else new_id(),
            name=wanted.name,
            content_type=wanted.content_type,
            category=wanted.category,
            institution_id=deposit.institution_id,
            professional_id=caller.actor.professional_id or caller.actor_id,
            data_key=key.raw(),
            person_name=person_name(session, self.vault.keys, person),
            pinned_patient_id=pinned(key, deposit),
        )

    # -- storing a sealed file as the deposit's pending record ---------------------------------

    def store(self, context: FileContext, ingested: Ingested, *, resumable: bool) -> FileReceipt:
        """Record a sealed, committed blob as the deposit's pending record (or delete the
        blob if the deposit can no longer take it)."""
        try:
            receipt = self.transact(
                lambda session, now: self._store_in(session, context, ingested, resumable, now)
            )
        except BaseException:
            self.vault.blobs.delete(context.person_id, context.blob_name)
            raise
        if resumable:
            self.uploads.live.drop(context.file_id)
        return receipt

    def _store_in(
        self,
        session: Session,
        context: FileContext,
        ingested: Ingested,
        resumable: bool,
        now: datetime,
    ) -> FileReceipt:
        deposit = locked_deposit(session, context.person_id, context.deposit_id)
        problem = state_problem(deposit, now)
        if problem is not None:
            raise problem
        key = self.vault.keys.get(session, context.person_id)
        metadata = {
            **ingested.metadata,
            "file_name": context.name,
            "sha256": ingested.info.sha256,
            "deposit_id": context.deposit_id,
        }
        if ingested.patient_id is not None:
            pin(key, deposit, ingested.patient_id)
            session.add(deposit)
        record = pending_record(context, ingested, metadata, deposit.clinical_date, now)
        record.title_sealed = seal_title(key, record, title_of(context, metadata))
        record.metadata_sealed = seal_metadata(key, record, metadata)
        session.add(record)
        row = self._stored_row(session, context, resumable, ingested, now)
        flush_unique(session)
        return FileReceipt(
            row.name, row.content_type, row.category, row.state, row.size, ingested.info.sha256
        )

    @staticmethod
    def _stored_row(
        session: Session, context: FileContext, resumable: bool, ingested: Ingested, now: datetime
    ) -> RadiologyFile:
        row = (
            session.get(RadiologyFile, (context.person_id, context.file_id)) if resumable else None
        )
        if row is None:
            row = RadiologyFile(
                id=context.file_id,
                person_id=context.person_id,
                deposit_id=context.deposit_id,
                name=context.name,
                content_type=context.content_type,
                category=context.category,
                record_id=context.record_id,
                created_at=now,
                updated_at=now,
            )
        row.state, row.size, row.updated_at = STORED, ingested.info.plaintext_size, now
        session.add(row)
        return row
