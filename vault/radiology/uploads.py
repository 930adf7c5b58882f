"""Files being uploaded into a radiology deposit (see :mod:`vault.radiology.deposits`).

* :class:`FileUpload` — a whole file in one request: sealed into a ``tmp/*.part``
  temporary through :class:`~vault.radiology.ingest.SealedIngest`, published into the blob store
  only once it passed its checks, then handed to a :class:`FileStore` to become a
  pending record.
* :class:`ResumableUpload` — one request (a tus ``PATCH``) of an upload that spans
  several. Between requests the upload lives in :class:`UploadFiles`: its sealed stream
  (whole chunks) and its sealed tail on disk, plus a small in-memory cache
  (:class:`LiveUploads`) that spares re-reading the stream while the same process
  serves the next request. One request at a time holds an upload (``flock``), across
  threads and processes.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from policies.vocabulary import Category
from vault.core.errors import DecryptionFailed, VaultError
from vault.crypto import aad
from vault.crypto.envelope import TAG_SIZE, SealingKey
from vault.crypto.streams import CHUNK_SIZE, HEADER_SIZE
from vault.radiology.dicom import DicomHeader, DicomProblem, PatientMismatch, patient_name_matches
from vault.radiology.dicom_stream import DicomInspector
from vault.radiology.ingest import (
    Ingested,
    Inspector,
    PdfInspector,
    SealedIngest,
    Sealing,
    TextInspector,
    TornUpload,
    read_tail,
    write_tail,
)
from vault.radiology.receipts import FileReceipt
from vault.store.blobs import BlobStore, PendingBlob

LIVE_UPLOADS = 16  # resumable uploads whose state is kept in memory between requests
LOCK_WAIT_SECONDS = 5.0  # how long a request waits for another one on the same upload
_TEMPORARY = "upload-{}.part"
_TAIL = "upload-{}.tail.part"


class StudyMismatch(DicomProblem):
    """A STOW-RS instance sent to one study's URL belongs to another study."""

    code = "study_mismatch"


class UploadBusy(VaultError):
    code = "upload_busy"


class UploadTooLong(VaultError):
    code = "upload_too_long"


@dataclass
class UploadLimits:
    """The largest file accepted and the sealed chunk size (shared, adjustable)."""

    max_file_bytes: int
    chunk_size: int = CHUNK_SIZE


class FileStore(Protocol):
    """What an upload needs from the deposit it belongs to."""

    def store(self, context: FileContext, ingested: Ingested, *, resumable: bool) -> FileReceipt:
        """Record the sealed blob as a pending record of the deposit."""
        ...

    def forget_upload(self, upload_id: str, deposit_id: str) -> None:
        """Drop a refused resumable upload: its row and its temporaries."""
        ...


@dataclass(frozen=True)
class FileContext:
    """Everything needed to seal and store one file, gathered after the decision."""

    deposit_id: str
    person_id: str
    file_id: str
    record_id: str
    name: str
    content_type: str
    category: str
    institution_id: str
    professional_id: str
    data_key: bytes = field(repr=False)
    person_name: str = field(repr=False)
    pinned_patient_id: str | None = field(repr=False)
    study_instance_uid: str | None = None  # the study a STOW-RS URL names

    @property
    def blob_name(self) -> str:
        return self.record_id

    @property
    def aad(self) -> bytes:
        return aad.blob(self.person_id, self.record_id, self.blob_name)

    def sealing(self, limits: UploadLimits) -> Sealing:
        """How this file is sealed, within ``limits``."""
        return Sealing(self.data_key, self.aad, limits.max_file_bytes, limits.chunk_size)

    def inspector(self) -> Inspector:
        if self.category == Category.RADIOLOGY_IMAGES:
            return DicomInspector(self.check_identity)
        return PdfInspector() if self.content_type == "application/pdf" else TextInspector()

    def check_identity(self, header: DicomHeader) -> None:
        if not patient_name_matches(header, self.person_name):
            raise PatientMismatch("PatientName does not name the authorised person")
        if self.pinned_patient_id is not None and header.patient_id != self.pinned_patient_id:
            raise PatientMismatch("PatientID differs from the deposit's other files")
        if self.study_instance_uid not in (None, header.study_instance_uid):
            raise StudyMismatch("the instance belongs to another study")


class FileUpload:
    """A file streamed in one request. ``feed`` the body, then ``finish`` — or ``abort``.
    The sealed temporary is removed on any failure; nothing is stored before ``finish``."""

    def __init__(
        self, store: FileStore, blobs: BlobStore, limits: UploadLimits, context: FileContext
    ) -> None:
        self._store = store
        self._blobs = blobs
        self.context = context
        self.stored_metadata: dict[str, str] = {}
        self._pending = blobs.pending(context.person_id, context.blob_name)
        try:
            sealing = context.sealing(limits)
            self._ingest = SealedIngest.start(sealing, context.inspector(), self._pending.handle)
        except BaseException:
            self.abort()
            raise

    @property
    def size(self) -> int:
        return self._ingest.size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._ingest.feed(data)
        except BaseException:
            self.abort()
            raise

    def finish(self) -> FileReceipt:
        try:
            ingested = self._ingest.finish()
            self._blobs.commit(self._pending, self.context.person_id, self.context.blob_name)
        except BaseException:
            self.abort()
            raise
        receipt = self._store.store(self.context, ingested, resumable=False)
        self.stored_metadata = ingested.metadata
        return receipt

    def abort(self) -> None:
        self._pending.discard()


# --- resumable uploads ----------------------------------------------------------------------


@dataclass
class LiveUpload:
    """A resumable upload's ingest kept between requests, with the on-disk state it
    matches (so another process's progress is noticed)."""

    ingest: SealedIngest
    handle: BinaryIO
    snapshot: tuple[int, int, int]


class LiveUploads:
    """A small LRU of :class:`LiveUpload`; taking an entry removes it (one writer at a time)."""

    def __init__(self, capacity: int) -> None:
        self._entries: OrderedDict[str, LiveUpload] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def take(self, upload_id: str) -> LiveUpload | None:
        with self._lock:
            return self._entries.pop(upload_id, None)

    def put(self, upload_id: str, live: LiveUpload) -> None:
        with self._lock:
            self._entries[upload_id] = live
            while len(self._entries) > self._capacity:
                _, evicted = self._entries.popitem(last=False)
                evicted.handle.close()

    def drop(self, upload_id: str) -> None:
        live = self.take(upload_id)
        if live is not None:
            live.handle.close()

    def clear(self) -> None:
        with self._lock:
            for live in self._entries.values():
                live.handle.close()
            self._entries.clear()


class UploadFiles:
    """Where resumable uploads live between requests: files in the blob store's ``tmp/``
    (collected with the other temporaries when abandoned) and the in-memory cache."""

    def __init__(self, blobs: BlobStore, limits: UploadLimits) -> None:
        self.blobs = blobs
        self.limits = limits
        self.live = LiveUploads(LIVE_UPLOADS)

    def lock(self, context: FileContext) -> int:
        """An exclusive lock on the upload (its sealed file, created afresh if it was
        collected while idle), waited for up to :data:`LOCK_WAIT_SECONDS`."""
        main, _ = self.paths(context.file_id)
        if not main.exists():
            self.start(context)  # collected while idle: start afresh
        fd = os.open(main, os.O_RDONLY)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise UploadBusy("another request is writing to this upload") from None
                time.sleep(0.02)  # e.g. a PATCH cut off by its client, still saving

    def take_live(self, context: FileContext) -> LiveUpload:
        """The upload's ingest: from memory if it matches the disk, else rebuilt from the
        sealed file; a torn or unreadable file restarts the upload at offset 0."""
        main, tail = self.paths(context.file_id)
        live = self.live.take(context.file_id)
        if live is not None and live.snapshot == _snapshot(main, tail):
            return live
        if live is not None:
            live.handle.close()
        handle = open(main, "r+b")  # noqa: SIM115 - kept open between requests
        try:
            ingest = self._rebuild(context, handle, tail)
        except (TornUpload, DecryptionFailed):
            handle.close()
            tail.unlink(missing_ok=True)
            self.start(context)
            handle = open(main, "r+b")  # noqa: SIM115
            ingest = self._rebuild(context, handle, tail)
        except BaseException:
            handle.close()
            raise
        return LiveUpload(ingest, handle, _snapshot(main, tail))

    def _rebuild(self, context: FileContext, handle: BinaryIO, tail_path: Path) -> SealedIngest:
        key = SealingKey(context.data_key)
        size = handle.seek(0, os.SEEK_END)
        handle.seek(0)
        header = handle.read(HEADER_SIZE)
        chunks = max(0, size - HEADER_SIZE) // (self.limits.chunk_size + TAG_SIZE)
        tail = read_tail(tail_path, key, context.file_id, header, chunks)
        return SealedIngest.resume(context.sealing(self.limits), context.inspector(), handle, tail)

    def start(self, context: FileContext) -> None:
        """A new sealed stream (its header only) for the upload, written atomically."""
        main, _ = self.paths(context.file_id)
        temporary = main.with_name(f"{main.name}.{secrets.token_hex(8)}.part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                SealedIngest.start(context.sealing(self.limits), context.inspector(), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, main)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def paths(self, upload_id: str) -> tuple[Path, Path]:
        """The upload's sealed stream and its sealed tail, in the blob store's tmp dir."""
        tmp = self.blobs.tmp
        return tmp / _TEMPORARY.format(upload_id), tmp / _TAIL.format(upload_id)

    def forget(self, upload_id: str) -> None:
        """Remove the upload's files and cached state."""
        self.live.drop(upload_id)
        for path in self.paths(upload_id):
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class HeldUpload:
    """A resumable upload one request holds: its declared length, the ``flock`` it holds
    (a file descriptor) and its live ingest."""

    length: int
    lock_fd: int
    live: LiveUpload


class ResumableUpload:
    """One PATCH of a tus upload: holds the upload's lock until :meth:`pause`,
    :meth:`finish` or :meth:`discard`."""

    def __init__(
        self, store: FileStore, files: UploadFiles, context: FileContext, held: HeldUpload
    ) -> None:
        self._store = store
        self._files = files
        self.context = context
        self.length = held.length
        self._lock_fd = held.lock_fd
        self._live = held.live

    @property
    def offset(self) -> int:
        return self._live.ingest.size

    @property
    def complete(self) -> bool:
        return self.offset == self.length

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self.offset + len(data) > self.length:
            raise UploadTooLong("the body goes past the declared Upload-Length")
        self._live.ingest.feed(data)

    def pause(self) -> int:
        """Make what arrived durable (whole chunks, then the sealed tail); the offset."""
        try:
            paths = self._files.paths(self.context.file_id)
            handle = self._live.handle
            handle.flush()
            os.fsync(handle.fileno())
            key = SealingKey(self.context.data_key)
            write_tail(paths[1], key, self.context.file_id, self._live.ingest)
            self._live.snapshot = _snapshot(*paths)
            self._files.live.put(self.context.file_id, self._live)
            return self.offset
        finally:
            self._release()

    def finish(self) -> FileReceipt:
        """The last byte arrived: judge the whole file, store it as a pending record."""
        main, tail = self._files.paths(self.context.file_id)
        try:
            ingested = self._live.ingest.finish()
            pending = PendingBlob(main, self._live.handle)
            self._files.blobs.commit(pending, self.context.person_id, self.context.blob_name)
            tail.unlink(missing_ok=True)
        except VaultError:
            self.discard()
            raise
        except BaseException:
            self._live.handle.close()
            self._release()
            raise
        self._release()
        try:
            return self._store.store(self.context, ingested, resumable=True)
        except VaultError:
            self._store.forget_upload(self.context.file_id, self.context.deposit_id)
            raise

    def discard(self) -> None:
        """The file was refused: the upload and its temporaries go."""
        self._live.handle.close()
        self._release()
        self._store.forget_upload(self.context.file_id, self.context.deposit_id)

    def _release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def _snapshot(main: Path, tail: Path) -> tuple[int, int, int]:
    try:
        tail_stat = tail.stat()
        tail_state = (tail_stat.st_size, tail_stat.st_mtime_ns)
    except FileNotFoundError:
        tail_state = (0, 0)
    return (main.stat().st_size, *tail_state)
