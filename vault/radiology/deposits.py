"""Radiology deposits (R5): a designated depositor files one visit's study — DICOM images
and reports — into the person's Personal Folder, authorised by the person's code.

The flow, each step through the policy (``DEPOSIT_RADIOLOGY``, audited; a refusal is
committed to the audit log before it is raised):

1. :meth:`RadiologyDeposits.open_deposit` with the authorisation code → an ``open``
   :class:`~vault.store.radiology_tables.RadiologyDeposit`. The depositor learns the deposit id
   and its expiry, nothing about the person.
2. Files, one record each: :meth:`~RadiologyDeposits.begin_file` (one request streams the
   whole file) or :meth:`~RadiologyDeposits.create_upload` /
   :meth:`~RadiologyDeposits.resume_upload` (tus: resumable across requests). Either way
   the body goes through :class:`~vault.radiology.ingest.SealedIngest` into a temporary blob, then
   into the blob store as a ``pending`` record. ``application/dicom`` becomes
   ``radiology_images``; ``application/pdf`` and ``text/plain`` become ``radiology_report``.
3. :meth:`~RadiologyDeposits.complete` → in one transaction every record of the deposit
   turns ``committed`` (visible), the authorisation is marked used and the person is
   notified. Until then nothing of the deposit is visible to anyone.

The depositor can read its own receipt (file names, sizes, digests, states) and never
any record (R5: the policy gives a depositor no read).

Decisions where the issue is silent:

* **Identity.** A DICOM file's ``PatientName`` must name the authorised person (any
  component group; case, punctuation and order ignored: :func:`vault.radiology.dicom.names_match`).
  A Mainland hospital's ``PatientID`` is its own record number, unknown here, so it is
  *pinned* instead: the deposit's first DICOM file fixes it, and every later file must
  carry the same one — two patients never share a deposit. Either mismatch is refused
  (``patient_mismatch``) before anything of the file is stored.
* **Clinical date.** The visit's date is given when the deposit opens (default: the Hong
  Kong date that day); an image record takes its ``StudyDate`` when it has one.
* **Lifetime.** A deposit is open for :data:`DEPOSIT_LIFETIME` or until its authorisation
  expires, whichever comes first; afterwards :meth:`~RadiologyDeposits.collect_abandoned`
  removes its files and pending records and marks it ``abandoned``.
* **Codes** are looked up by their SHA-256; wrong codes count against the professional
  (:data:`CODE_THROTTLE`), as passcodes do.
* **Digests.** The receipt shows each file's plaintext SHA-256 (sealed in the record's
  metadata, as the DESIGN keeps plaintext digests out of clear columns). ``Record.digest``
  holds the sealed object's digest (its header and chunk tags).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from policies.dates import hk_date
from policies.model import Decision, RecordRef
from policies.vocabulary import Action, Category, Reason, Source
from vault.access.judge import Ask, Caller, Judge
from vault.access.throttles import Limit, LockedOut, Throttle
from vault.core.errors import NotFound, VaultError
from vault.core.ids import new_id
from vault.crypto import aad
from vault.crypto.envelope import SealingKey
from vault.crypto.passwords import code_hash
from vault.crypto.streams import CHUNK_SIZE
from vault.radiology.dicom import PatientMismatch
from vault.radiology.ingest import FileTooLarge, Ingested
from vault.radiology.uploads import (
    FileContext,
    FileUpload,
    ResumableUpload,
    UploadFiles,
    UploadLimits,
)
from vault.records.blob_content import BlobContent, open_blob_record
from vault.records.listing import visible_filter
from vault.records.sealed import COMMITTED, PENDING, open_metadata, seal_metadata, seal_title
from vault.registry.persons import person_name
from vault.runtime.opening import Vault
from vault.store.engine import transaction
from vault.store.radiology_tables import (
    ABANDONED,
    COMPLETED,
    OPEN,
    STORED,
    UPLOADING,
    RadiologyDeposit,
    RadiologyFile,
)
from vault.store.tables import Person, RadiologyAuthorisation, Record

GiB = 1 << 30
DEPOSIT_LIFETIME = timedelta(hours=24)
DEFAULT_MAX_FILE_BYTES = 4 * GiB
STALE_UPLOAD_SECONDS = 24 * 3600.0
CODE_THROTTLE = Throttle("radiology_code", Limit(failures=10, lock_for=timedelta(minutes=15)))
NOTIFICATION_EVENT = "radiology_deposit"

CATEGORY_OF = {
    "application/dicom": Category.RADIOLOGY_IMAGES,
    "application/pdf": Category.RADIOLOGY_REPORT,
    "text/plain": Category.RADIOLOGY_REPORT,
}
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


class RadiologyRefused(VaultError):
    """A deposit step refused for a reason the depositor may be told (``code``).
    Whether the person exists or what else they hold is never among the reasons."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _refused(code: str) -> RadiologyRefused:
    return RadiologyRefused(code, _MESSAGES[code])


_MESSAGES = {
    "invalid_authorisation_code": "The authorisation code is not valid for this institution.",
    "authorisation_expired": "The authorisation code has expired.",
    "authorisation_revoked": "The person revoked this authorisation.",
    "authorisation_used": "The authorisation was already used for a completed deposit.",
    "not_radiology_depositor": "The institution is not a designated radiology depositor today.",
    "deposit_not_permitted": "This deposit is not permitted.",
    "deposit_completed": "The deposit is already completed.",
    "deposit_expired": "The deposit expired before it was completed.",
    "invalid_file_name": "File names are 1-120 letters, digits, '.', '_' or '-'.",
    "unsupported_media_type": "Files are application/dicom, application/pdf or text/plain.",
    "file_exists": "The deposit already holds a file of that name.",
    "empty_deposit": "The deposit holds no stored file.",
    "uploads_in_progress": "Resumable uploads of this deposit are unfinished.",
    "upload_offset_mismatch": "Upload-Offset is not the upload's current offset.",
    "upload_complete": "The upload is already complete.",
}


# --- what the depositor is shown ---------------------------------------------------------


@dataclass(frozen=True)
class FileReceipt:
    name: str
    content_type: str
    category: str
    state: str
    size: int
    sha256: str | None = None
    upload_length: int | None = None


@dataclass(frozen=True)
class DepositReceipt:
    deposit_id: str
    state: str
    clinical_date: date
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    files: Sequence[FileReceipt]


@dataclass(frozen=True)
class UploadStatus:
    upload_id: str
    offset: int
    length: int


@dataclass(frozen=True)
class CollectionReport:
    abandoned_deposits: int
    removed_records: int
    removed_temporaries: int


@dataclass(frozen=True)
class DicomInstance:
    """One stored DICOM instance as found for a WADO-RS retrieval."""

    content: BlobContent
    metadata: dict[str, str]


# --- the use-cases ------------------------------------------------------------------------


CLIENT_LOCKED = "client_locked"  # an attempt while the professional is locked out
CLIENT_LOCKED_OUT = "client_locked_out"  # the failure that locked the professional


class RadiologyDeposits:
    """The deposit use-cases. Holds the judge and a small in-memory cache of resumable
    uploads; everything else lives in the database and the blob store."""

    def __init__(
        self,
        judge: Judge,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        deposit_lifetime: timedelta = DEPOSIT_LIFETIME,
        stale_upload_seconds: float = STALE_UPLOAD_SECONDS,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.judge = judge
        self.vault: Vault = judge.vault
        self.limits = UploadLimits(max_file_bytes, chunk_size)
        self.deposit_lifetime = deposit_lifetime
        self.stale_upload_seconds = stale_upload_seconds
        self.uploads = UploadFiles(self.vault.blobs, self.limits)

    @property
    def max_file_bytes(self) -> int:
        """The largest file a deposit takes (``CROSSVAULT_RADIOLOGY_MAX_FILE_BYTES``)."""
        return self.limits.max_file_bytes

    @max_file_bytes.setter
    def max_file_bytes(self, value: int) -> None:
        self.limits.max_file_bytes = value

    @property
    def chunk_size(self) -> int:
        return self.limits.chunk_size

    # -- deposits --------------------------------------------------------------------------

    def open_deposit(
        self, caller: Caller, authorisation_code: str, clinical_date: date | None = None
    ) -> DepositReceipt:
        """Open a deposit with the person's authorisation code."""
        now = self.judge.now()
        outcome: DepositReceipt | VaultError
        with transaction(self.vault.engine) as session:
            outcome = self._open_deposit(session, caller, authorisation_code, clinical_date, now)
        if isinstance(outcome, VaultError):
            raise outcome
        return outcome

    def _open_deposit(
        self,
        session: Session,
        caller: Caller,
        code: str,
        clinical_date: date | None,
        now: datetime,
    ) -> DepositReceipt | VaultError:
        professional = caller.actor.professional_id or caller.actor_id
        authorisation = session.exec(
            select(RadiologyAuthorisation).where(
                RadiologyAuthorisation.code_hash == code_hash(code.strip())
            )
        ).first()
        person = authorisation.person_id if authorisation is not None else None
        ask = Ask(Action.DEPOSIT_RADIOLOGY, person)
        locked_until = CODE_THROTTLE.locked_until(session, professional, now)
        if locked_until is not None:  # audited like every other refused attempt (R11)
            self.judge.record_event(
                session, caller, ask, allowed=False, reason=CLIENT_LOCKED, now=now
            )
            return LockedOut(locked_until)
        if authorisation is None or authorisation.institution_id != caller.actor.institution_id:
            self.judge.record_event(
                session, caller, ask, allowed=False, reason="invalid_authorisation_code", now=now
            )
            locked = CODE_THROTTLE.fail(session, professional, now)
            if locked is None:
                return _refused("invalid_authorisation_code")
            self.judge.record_event(
                session, caller, ask, allowed=False, reason=CLIENT_LOCKED_OUT, now=now
            )
            return LockedOut(locked)
        CODE_THROTTLE.succeed(session, professional, now)
        deposit = RadiologyDeposit(
            id=new_id(),
            authorisation_id=authorisation.id,
            person_id=authorisation.person_id,
            institution_id=authorisation.institution_id,
            professional_id=professional,
            clinical_date=clinical_date or hk_date(now),
            state=OPEN,
            created_at=now,
            expires_at=min(authorisation.expires_at, now + self.deposit_lifetime),
        )
        decision = self._decide(session, caller, deposit, Category.RADIOLOGY_IMAGES, now)
        if not decision.allowed:
            return _refusal(session, caller, deposit, decision, now)
        session.add(deposit)
        session.flush()
        return _receipt(deposit, [], None)

    def receipt(self, caller: Caller, deposit_id: str) -> DepositReceipt:
        """The depositor's own receipt: file names, sizes, digests and states."""
        now = self.judge.now()
        outcome: DepositReceipt | None = None
        with transaction(self.vault.engine) as session:
            deposit = session.get(RadiologyDeposit, deposit_id)
            if deposit is not None:
                decision = self._decide(
                    session,
                    caller,
                    deposit,
                    Category.RADIOLOGY_IMAGES,
                    now,
                    action=Action.READ_DEPOSIT_RECEIPT,
                )
                if decision.allowed:
                    outcome = self._receipt(session, deposit)
        if outcome is None:
            raise NotFound("no such deposit")
        return outcome

    def complete(self, caller: Caller, deposit_id: str) -> DepositReceipt:
        """Make every record of the deposit visible at once and use up the authorisation."""
        now = self.judge.now()
        outcome: DepositReceipt | VaultError
        with transaction(self.vault.engine) as session:
            outcome = self._complete(session, caller, deposit_id, now)
        if isinstance(outcome, VaultError):
            raise outcome
        return outcome

    def _complete(
        self, session: Session, caller: Caller, deposit_id: str, now: datetime
    ) -> DepositReceipt | VaultError:
        deposit = session.get(RadiologyDeposit, deposit_id)
        if deposit is None:
            return NotFound("no such deposit")
        files = _files(session, deposit.id)
        categories = sorted({f.category for f in files}) or [str(Category.RADIOLOGY_IMAGES)]
        for category in categories:
            decision = self._decide(session, caller, deposit, category, now)
            if not decision.allowed:
                return _refusal(session, caller, deposit, decision, now)
        deposit = _locked_deposit(session, deposit_id)
        problem = _state_problem(deposit, now)
        files = _files(session, deposit.id)
        if problem is None and any(f.state != STORED for f in files):
            problem = _refused("uploads_in_progress")
        if problem is None and not files:
            problem = _refused("empty_deposit")
        if problem is not None:
            return problem
        record_ids = [f.record_id for f in files]
        committed = session.exec(
            update(Record)
            .where(col(Record.id).in_(record_ids), col(Record.state) == PENDING)
            .values(state=COMMITTED)
        )
        if committed.rowcount != len(record_ids):  # the person was erased meanwhile
            raise NotFound("the deposit's records are gone")
        authorisation = session.get(RadiologyAuthorisation, deposit.authorisation_id)
        assert authorisation is not None
        authorisation.used_at = now
        deposit.state, deposit.completed_at = COMPLETED, now
        session.add_all([authorisation, deposit])
        self.judge.notify(session, deposit.person_id, caller, NOTIFICATION_EVENT, now, None)
        session.flush()
        return self._receipt(session, deposit)

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
        category = _category(name, content_type)
        context = self._file_context(caller, deposit_id, name, content_type, category)
        if study_instance_uid is not None:
            context = replace(context, study_instance_uid=study_instance_uid)
        return FileUpload(self, self.vault.blobs, self.limits, context)

    # -- resumable uploads (tus) ---------------------------------------------------------------

    def create_upload(
        self, caller: Caller, deposit_id: str, name: str, content_type: str, length: int
    ) -> UploadStatus:
        """Register a resumable upload of ``length`` bytes; its sealed file starts now."""
        category = _category(name, content_type)
        if length < 0:
            raise ValueError("Upload-Length is a non-negative integer")
        if length > self.max_file_bytes:
            raise FileTooLarge(self.max_file_bytes)
        context = self._file_context(caller, deposit_id, name, content_type, category)
        now = self.judge.now()
        main, _ = self.uploads.paths(context.file_id)
        try:
            with transaction(self.vault.engine) as session:
                session.add(
                    RadiologyFile(
                        id=context.file_id,
                        deposit_id=deposit_id,
                        name=name,
                        content_type=content_type,
                        category=category,
                        record_id=context.record_id,
                        state=UPLOADING,
                        upload_length=length,
                        created_at=now,
                        updated_at=now,
                    )
                )
                _flush_unique(session)
                self.uploads.start(context)
        except BaseException:
            main.unlink(missing_ok=True)
            raise
        return UploadStatus(context.file_id, 0, length)

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
        upload = ResumableUpload(self, self.uploads, context, length, lock_fd, live)
        if offset != upload.offset:
            upload.pause()
            raise _refused("upload_offset_mismatch")
        return upload

    def _upload_context(
        self, caller: Caller, deposit_id: str, upload_id: str, action: Action
    ) -> tuple[FileContext, int]:
        with Session(self.vault.engine) as session:
            row = session.get(RadiologyFile, upload_id)
        if row is None or row.deposit_id != deposit_id or row.upload_length is None:
            raise NotFound("no such upload")
        context = self._file_context(
            caller, deposit_id, row.name, row.content_type, row.category, row, action
        )
        if row.state != UPLOADING:
            raise _refused("upload_complete")
        return context, row.upload_length

    def forget_upload(self, upload_id: str, deposit_id: str) -> None:
        """Drop a refused resumable upload: its temporaries and its row."""
        self.uploads.forget(upload_id)
        with transaction(self.vault.engine) as session:
            row = session.get(RadiologyFile, upload_id)
            if row is not None and row.deposit_id == deposit_id and row.state == UPLOADING:
                session.delete(row)

    # -- shared steps -----------------------------------------------------------------------

    def _decide(
        self,
        session: Session,
        caller: Caller,
        deposit: RadiologyDeposit,
        category: str,
        now: datetime,
        action: Action = Action.DEPOSIT_RADIOLOGY,
    ) -> Decision:
        ref = RecordRef(
            category, Source.PERSONAL_FOLDER, deposit.clinical_date, deposit.institution_id
        )
        ask = Ask(
            action,
            deposit.person_id,
            record=ref,
            resource_id=deposit.id,
            authorisation_id=deposit.authorisation_id,
        )
        return self.judge.decide(session, caller, ask, now)

    def _file_context(
        self,
        caller: Caller,
        deposit_id: str,
        name: str,
        content_type: str,
        category: str,
        row: RadiologyFile | None = None,
        action: Action = Action.DEPOSIT_RADIOLOGY,
    ) -> FileContext:
        """Decide (audited) that the caller may add ``category`` to the deposit now, and
        gather what sealing the file needs. Raises after the decision is committed."""
        now = self.judge.now()
        outcome: FileContext | VaultError
        with transaction(self.vault.engine) as session:
            deposit = session.get(RadiologyDeposit, deposit_id)
            if deposit is None:
                outcome = NotFound("no such deposit")
            else:
                decision = self._decide(session, caller, deposit, category, now, action)
                outcome = (
                    _refusal(session, caller, deposit, decision, now)
                    if not decision.allowed
                    else _state_problem(deposit, now)
                    or self._gather(session, caller, deposit, name, content_type, category, row)
                )
        if isinstance(outcome, VaultError):
            raise outcome
        return outcome

    def _gather(
        self,
        session: Session,
        caller: Caller,
        deposit: RadiologyDeposit,
        name: str,
        content_type: str,
        category: str,
        row: RadiologyFile | None,
    ) -> FileContext | VaultError:
        if row is None and _file_named(session, deposit.id, name) is not None:
            return _refused("file_exists")
        key = self.vault.keys.get(session, deposit.person_id)
        person = session.get(Person, deposit.person_id)
        assert person is not None
        return FileContext(
            deposit_id=deposit.id,
            person_id=deposit.person_id,
            file_id=row.id if row is not None else new_id(),
            record_id=row.record_id if row is not None else new_id(),
            name=name,
            content_type=content_type,
            category=category,
            institution_id=deposit.institution_id,
            professional_id=caller.actor.professional_id or caller.actor_id,
            data_key=key.raw(),
            person_name=person_name(session, self.vault.keys, person),
            pinned_patient_id=_pinned(key, deposit),
        )

    def store(self, context: FileContext, ingested: Ingested, *, resumable: bool) -> FileReceipt:
        """Record a sealed, committed blob as the deposit's pending record (or delete the
        blob if the deposit can no longer take it)."""
        now = self.judge.now()
        try:
            with transaction(self.vault.engine) as session:
                receipt = self._store_in(session, context, ingested, resumable, now)
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
        deposit = _locked_deposit(session, context.deposit_id)
        problem = _state_problem(deposit, now)
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
            _pin(key, deposit, ingested.patient_id)
            session.add(deposit)
        record = _pending_record(context, ingested, metadata, deposit.clinical_date, now)
        record.title_sealed = seal_title(key, record, _title(context, metadata))
        record.metadata_sealed = seal_metadata(key, record, metadata)
        session.add(record)
        row = session.get(RadiologyFile, context.file_id) if resumable else None
        if row is None:
            row = RadiologyFile(
                id=context.file_id,
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
        _flush_unique(session)
        return FileReceipt(
            row.name, row.content_type, row.category, row.state, row.size, ingested.info.sha256
        )

    def _receipt(self, session: Session, deposit: RadiologyDeposit) -> DepositReceipt:
        files = _files(session, deposit.id)
        key = self.vault.keys.get(session, deposit.person_id) if files else None
        digests: dict[str, str] = {}
        for f in files:
            record = session.get(Record, f.record_id) if f.state == STORED else None
            if record is not None and key is not None:
                digests[f.id] = str(open_metadata(key, record).get("sha256", ""))
        return _receipt(deposit, files, digests)

    # -- reading (the person, HK providers) -----------------------------------------------------

    def find_instances(
        self,
        caller: Caller,
        person_id: str,
        study_uid: str,
        series_uid: str | None = None,
        sop_uid: str | None = None,
    ) -> list[DicomInstance]:
        """The person's visible DICOM instances of a study (WADO-RS), after one audited
        ``READ_CONTENT`` decision about the study; :class:`NotFound` if there are none or
        the caller may not see them (R10)."""
        now = self.judge.now()
        found: list[tuple[Record, dict[str, str]]] = []
        data_key = b""
        with transaction(self.vault.engine) as session:
            ref = RecordRef(Category.RADIOLOGY_IMAGES, Source.PERSONAL_FOLDER, hk_date(now))
            ask = Ask(Action.READ_CONTENT, person_id, record=ref, resource_id=study_uid[:80])
            decision = self.judge.decide(session, caller, ask, now)
            if decision.allowed:
                wanted = {
                    "study_instance_uid": study_uid,
                    "series_instance_uid": series_uid,
                    "sop_instance_uid": sop_uid,
                }
                found = _matching(session, self.vault, person_id, decision, wanted)
                if found:
                    data_key = self.vault.keys.get(session, person_id).raw()
        if not found:
            raise NotFound("no such study")
        return [
            DicomInstance(
                open_blob_record(self.vault, r, data_key=data_key, chunk_size=self.chunk_size),
                metadata,
            )
            for r, metadata in found
        ]

    # -- housekeeping ---------------------------------------------------------------------------

    def collect_abandoned(self, *, now: datetime | None = None) -> CollectionReport:
        """Abandon expired open deposits (their pending records, blobs and resumable
        uploads go) and remove temporaries older than ``stale_upload_seconds``."""
        now = now or self.judge.now()
        with transaction(self.vault.engine) as session:
            expired = session.exec(
                select(RadiologyDeposit).where(
                    RadiologyDeposit.state == OPEN, col(RadiologyDeposit.expires_at) <= now
                )
            ).all()
            leftovers = [_abandon(session, deposit) for deposit in expired]
        removed_records = sum(self._remove(*leftover) for leftover in leftovers)
        removed = self.vault.blobs.collect_temporaries(self.stale_upload_seconds)
        return CollectionReport(len(expired), removed_records, removed)

    def discard_deposit(self, caller: Caller, deposit_id: str) -> None:
        """Abandon the caller's own open deposit now (an all-or-nothing STOW-RS request
        that failed): nothing of it is kept."""
        with transaction(self.vault.engine) as session:
            deposit = _locked_deposit(session, deposit_id)
            mine = deposit.institution_id == caller.actor.institution_id
            leftover = _abandon(session, deposit) if mine and deposit.state == OPEN else None
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


# --- helpers ---------------------------------------------------------------------------------


def _category(name: str, content_type: str) -> str:
    if not _FILE_NAME.fullmatch(name):
        raise _refused("invalid_file_name")
    category = CATEGORY_OF.get(content_type.split(";")[0].strip().lower())
    if category is None:
        raise _refused("unsupported_media_type")
    return str(category)


def _files(session: Session, deposit_id: str) -> list[RadiologyFile]:
    return list(
        session.exec(
            select(RadiologyFile)
            .where(RadiologyFile.deposit_id == deposit_id)
            .order_by(col(RadiologyFile.created_at), col(RadiologyFile.name))
        )
    )


def _file_named(session: Session, deposit_id: str, name: str) -> RadiologyFile | None:
    return session.exec(
        select(RadiologyFile).where(
            RadiologyFile.deposit_id == deposit_id, RadiologyFile.name == name
        )
    ).first()


def _abandon(
    session: Session, deposit: RadiologyDeposit
) -> tuple[list[tuple[str, str]], list[str]]:
    """Mark ``deposit`` abandoned and delete its files and pending records; returns the
    blobs and resumable uploads to remove once that is committed."""
    blobs: list[tuple[str, str]] = []
    uploads: list[str] = []
    for f in _files(session, deposit.id):
        record = session.get(Record, f.record_id)
        if record is not None and record.state == PENDING:
            blobs.append((record.person_id, f.record_id))
            session.delete(record)
        uploads.append(f.id)
        session.delete(f)
    deposit.state = ABANDONED
    session.add(deposit)
    return blobs, uploads


def _locked_deposit(session: Session, deposit_id: str) -> RadiologyDeposit:
    deposit = session.exec(
        select(RadiologyDeposit)
        .where(RadiologyDeposit.id == deposit_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return deposit


def _flush_unique(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise _refused("file_exists") from None


def _state_problem(deposit: RadiologyDeposit, now: datetime) -> RadiologyRefused | None:
    if deposit.state == COMPLETED:
        return _refused("deposit_completed")
    if deposit.state != OPEN or deposit.expires_at <= now:
        return _refused("deposit_expired")
    return None


def _refusal(
    session: Session, caller: Caller, deposit: RadiologyDeposit, decision: Decision, now: datetime
) -> VaultError:
    """What a depositor is told when the policy refused: its own deposit's state or its
    authorisation's; anyone else learns nothing, not even that the deposit exists (404)."""
    if caller.actor.institution_id != deposit.institution_id:
        return NotFound("no such deposit")
    if decision.reason in (Reason.UNKNOWN_PERSON, Reason.WRONG_REGION):
        return _refused("invalid_authorisation_code")
    if decision.reason is Reason.NOT_RADIOLOGY_DEPOSITOR:
        return _refused("not_radiology_depositor")
    if deposit.state == COMPLETED:
        return _refused("deposit_completed")
    authorisation = session.get(RadiologyAuthorisation, deposit.authorisation_id)
    if authorisation is None:
        return _refused("invalid_authorisation_code")
    if authorisation.used_at is not None:
        return _refused("authorisation_used")
    if authorisation.revoked_at is not None and authorisation.revoked_at <= now:
        return _refused("authorisation_revoked")
    if authorisation.expires_at <= now:
        return _refused("authorisation_expired")
    return _state_problem(deposit, now) or _refused("deposit_not_permitted")


def _receipt(
    deposit: RadiologyDeposit, files: Sequence[RadiologyFile], digests: dict[str, str] | None
) -> DepositReceipt:
    return DepositReceipt(
        deposit_id=deposit.id,
        state=deposit.state,
        clinical_date=deposit.clinical_date,
        created_at=deposit.created_at,
        expires_at=deposit.expires_at,
        completed_at=deposit.completed_at,
        files=[
            FileReceipt(
                f.name,
                f.content_type,
                f.category,
                f.state,
                f.size,
                (digests or {}).get(f.id),
                f.upload_length,
            )
            for f in files
        ],
    )


def _patient_aad(deposit: RadiologyDeposit) -> bytes:
    return aad.radiology_patient_id(deposit.person_id, deposit.id)


def _pinned(key: SealingKey, deposit: RadiologyDeposit) -> str | None:
    if deposit.patient_id_sealed is None:
        return None
    return key.open(deposit.patient_id_sealed, aad=_patient_aad(deposit)).decode()


def _pin(key: SealingKey, deposit: RadiologyDeposit, patient_id: str) -> None:
    """The first DICOM file fixes the deposit's PatientID; later ones must repeat it
    (checked again here, under the deposit's lock, for files that raced)."""
    pinned = _pinned(key, deposit)
    if pinned is None:
        deposit.patient_id_sealed = key.seal(patient_id.encode(), aad=_patient_aad(deposit))
    elif pinned != patient_id:
        raise PatientMismatch("PatientID differs from the deposit's other files")


def _pending_record(
    context: FileContext,
    ingested: Ingested,
    metadata: dict[str, str],
    clinical_date: date,
    now: datetime,
) -> Record:
    study_date = metadata.get("study_date", "")
    return Record(
        id=context.record_id,
        person_id=context.person_id,
        category=context.category,
        source=str(Source.PERSONAL_FOLDER),
        clinical_date=date.fromisoformat(study_date) if study_date else clinical_date,
        depositor_institution_id=context.institution_id,
        depositor_professional_id=context.professional_id,
        content_type=context.content_type,
        size=ingested.info.plaintext_size,
        digest=ingested.sealed_digest,
        title_sealed=b"",
        body_sealed=None,
        blob_name=context.blob_name,
        state=PENDING,
        created_at=now,
    )


def _title(context: FileContext, metadata: dict[str, str]) -> str:
    if context.category == Category.RADIOLOGY_IMAGES:
        what = " ".join(
            p for p in (metadata.get("modality"), metadata.get("body_part_examined")) if p
        )
        return f"Radiology images{': ' + what if what else ''}"
    return f"Radiology report ({context.name})"


def _matching(
    session: Session,
    vault: Vault,
    person_id: str,
    decision: Decision,
    wanted: dict[str, str | None],
) -> list[tuple[Record, dict[str, str]]]:
    visible = visible_filter(decision.obligations).narrow(
        category=Category.RADIOLOGY_IMAGES, source=Source.PERSONAL_FOLDER
    )
    rows = session.exec(
        select(Record)
        .where(
            Record.person_id == person_id,
            Record.state == COMMITTED,
            col(Record.blob_name).is_not(None),
            *visible.predicates(),
        )
        .order_by(col(Record.created_at), col(Record.id))
    ).all()
    if not rows:
        return []
    key = vault.keys.get(session, person_id)
    found = []
    for record in rows:
        metadata = {k: str(v) for k, v in open_metadata(key, record).items()}
        if all(value is None or metadata.get(k) == value for k, value in wanted.items()):
            found.append((record, metadata))
    return found
