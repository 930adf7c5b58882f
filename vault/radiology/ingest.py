"""Sealing an upload while it arrives: whole chunks into the blob store, checked on the way.

:class:`SealedIngest` takes plaintext in pieces of any size, cuts it into the stream's
chunks (:data:`vault.crypto.streams.CHUNK_SIZE`), shows each to an :class:`Inspector` and writes
it sealed with :class:`~vault.crypto.streams.StreamSealer`. It holds at most one chunk of
plaintext; nothing in plaintext is written anywhere. The first chunk (the *head*) is
inspected — and may be rewritten, e.g. a DICOM preamble zeroed — before anything of it
is sealed, so a file refused on its header leaves only a few sealed bytes behind, in a
temporary file its caller removes.

Resumable uploads (tus) need the state between requests on disk, never in clear:

* the sealed stream itself — header and whole chunks — in a temporary blob;
* the plaintext of the unfinished chunk (the *tail*, less than a chunk) sealed with the
  person's data key as one envelope, its AAD naming the upload, the stream's header and
  the chunk it continues, so a stale or foreign tail does not open.

:meth:`SealedIngest.resume` rebuilds the rest (the running digest, the inspector's
state) by opening the whole chunks again. A stream whose file does not end on a chunk
boundary (a crash while a chunk was being written) is not resumed at all
(:class:`TornUpload`): re-sealing that chunk index with other plaintext would reuse its
nonce, so the upload starts afresh.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from vault.core.errors import DecryptionFailed, VaultError
from vault.crypto import aad
from vault.crypto.envelope import TAG_SIZE, SealingKey
from vault.crypto.streams import CHUNK_SIZE, HEADER_SIZE, StreamInfo, StreamOpener, StreamSealer

PDF_MAGIC = b"%PDF-"
PDF_END = b"%%EOF"
PDF_TRAILER_WINDOW = 1024  # the end-of-file marker must lie in the last KiB


class ContentProblem(VaultError):
    """A file refused for what it holds (or lacks). ``code`` is stable."""

    code = "content_invalid"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FileTooLarge(VaultError):
    code = "file_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"files are limited to {limit} bytes")
        self.limit = limit


class TornUpload(VaultError):
    """A resumable upload's sealed file does not end on a chunk boundary."""

    code = "upload_torn"


class Inspector(Protocol):
    """Checks one file while it streams. ``inspect_head`` sees the first chunk (or the
    whole file, if shorter: ``whole``) before anything is sealed and may rewrite it in place;
    ``feed`` then sees every byte in order (the head included); ``finish`` returns the
    metadata to seal with the record, or raises if the file is incomplete or invalid."""

    def inspect_head(self, head: bytearray, *, whole: bool = False) -> None: ...

    def feed(self, data: bytes | bytearray | memoryview) -> None: ...

    def finish(self) -> dict[str, str]: ...

    @property
    def patient_id(self) -> str | None:
        """The patient the file names, for inspectors that read one (DICOM)."""
        ...


class PdfInspector:
    """A PDF starts with ``%PDF-`` and ends with ``%%EOF`` (in its last KiB)."""

    patient_id = None

    def __init__(self) -> None:
        self._end = b""

    def inspect_head(self, head: bytearray, *, whole: bool = False) -> None:
        if not head.startswith(PDF_MAGIC):
            raise ContentProblem("not_pdf", "the file does not start like a PDF")

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._end = (self._end + bytes(data[-PDF_TRAILER_WINDOW:]))[-PDF_TRAILER_WINDOW:]

    def finish(self) -> dict[str, str]:
        if PDF_END not in self._end:
            raise ContentProblem("pdf_truncated", "the PDF ends without its %%EOF marker")
        return {}


class TextInspector:
    """Plain text is UTF-8 (checked incrementally; a character cut at the end fails)."""

    patient_id = None

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def inspect_head(self, head: bytearray, *, whole: bool = False) -> None:
        pass

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        try:
            self._decoder.decode(bytes(data))
        except UnicodeDecodeError:
            raise ContentProblem("not_utf8_text", "the text is not UTF-8") from None

    def finish(self) -> dict[str, str]:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ContentProblem("not_utf8_text", "the text ends inside a character") from None
        return {}


@dataclass(frozen=True)
class Ingested:
    """What a finished ingest tells the store: size and plaintext digest, the digest of
    the sealed object (header and every chunk's tag, which commit to all its ciphertext),
    and the inspector's metadata."""

    info: StreamInfo
    sealed_digest: str
    metadata: dict[str, str]
    patient_id: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Sealing:
    """How one upload is sealed: under the person's data key with the object's AAD, in
    chunks of ``chunk_size``, up to ``max_size`` bytes of plaintext."""

    data_key: bytes = field(repr=False)
    aad: bytes
    max_size: int
    chunk_size: int = CHUNK_SIZE


class SealedIngest:
    """Cuts plaintext into chunks, inspects them and writes them sealed to ``out``."""

    def __init__(
        self, sealer: StreamSealer, inspector: Inspector, out: BinaryIO, sealing: Sealing
    ) -> None:
        self._sealer = sealer
        self._inspector = inspector
        self._out = out
        self._max_size = sealing.max_size
        self._chunk_size = sealing.chunk_size
        self._buffer = bytearray()
        self._chunks = 0
        self._tags = hashlib.sha256(sealer.header)

    @classmethod
    def start(cls, sealing: Sealing, inspector: Inspector, out: BinaryIO) -> SealedIngest:
        """A new sealed object: its header goes to ``out`` at once."""
        sealer = StreamSealer(sealing.data_key, aad=sealing.aad, chunk_size=sealing.chunk_size)
        out.write(sealer.header)
        return cls(sealer, inspector, out, sealing)

    @classmethod
    def resume(
        cls, sealing: Sealing, inspector: Inspector, sealed: BinaryIO, tail: bytes
    ) -> SealedIngest:
        """Continue the unfinished object in ``sealed`` (opened ``r+b``), whose
        unfinished chunk's plaintext is ``tail``. Every whole chunk is opened again (and so
        authenticated) to restore the digest and the inspector; :class:`TornUpload` if
        the file does not end on a chunk boundary, :class:`DecryptionFailed` if a chunk
        does not open."""
        data_key, aad, chunk_size = sealing.data_key, sealing.aad, sealing.chunk_size
        end = sealed.seek(0, os.SEEK_END)
        chunks, torn = divmod(end - HEADER_SIZE, chunk_size + TAG_SIZE)
        if end < HEADER_SIZE or torn:
            raise TornUpload("the sealed upload does not end on a chunk boundary")
        sealed.seek(0)
        header = sealed.read(HEADER_SIZE)
        opener = StreamOpener(data_key, header, aad=aad, chunk_size=chunk_size)
        tags = hashlib.sha256(header)
        replay = _replay(_Replay(opener, sealed, chunks, chunk_size), inspector, tags)
        sealer = StreamSealer.resume(data_key, header, replay, aad=aad, chunk_size=chunk_size)
        ingest = cls(sealer, inspector, sealed, sealing)
        ingest._chunks, ingest._tags = chunks, tags
        sealed.seek(0, os.SEEK_END)
        ingest.feed(tail)
        return ingest

    @property
    def header(self) -> bytes:
        return self._sealer.header

    @property
    def size(self) -> int:
        """Plaintext bytes taken so far."""
        return self._chunks * self._chunk_size + len(self._buffer)

    @property
    def sealed_chunks(self) -> int:
        """Whole chunks written to ``out`` so far."""
        return self._chunks

    @property
    def tail(self) -> bytes:
        """The plaintext not sealed yet (less than one chunk)."""
        return bytes(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take more plaintext; seal and write every chunk it completes."""
        if self.size + len(data) > self._max_size:
            raise FileTooLarge(self._max_size)
        view = memoryview(data)
        if self._buffer:
            room = self._chunk_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) < self._chunk_size:
                return
            self._seal(self._buffer)
            self._buffer = bytearray()
        while len(view) >= self._chunk_size:
            self._seal(view[: self._chunk_size])
            view = view[self._chunk_size :]
        self._buffer += view

    def finish(self) -> Ingested:
        """Seal the rest as the last chunk and let the inspector judge the whole file."""
        if self.size == 0:
            raise ContentProblem("empty_file", "the file is empty")
        if self._chunks == 0:
            self._inspector.inspect_head(self._buffer, whole=True)
        self._inspector.feed(self._buffer)
        metadata = self._inspector.finish()
        last = self._sealer.update(bytes(self._buffer)) + self._sealer.finalize()
        self._buffer = bytearray()
        self._write(last)
        info = self._sealer.info
        return Ingested(info, self._tags.hexdigest(), metadata, self._inspector.patient_id)

    def _seal(self, chunk: bytearray | memoryview) -> None:
        if self._chunks == 0:
            head = bytearray(chunk)
            self._inspector.inspect_head(head)
            chunk = head
        self._inspector.feed(chunk)
        self._write(self._sealer.update(bytes(chunk)))
        self._chunks += 1

    def _write(self, sealed: bytes) -> None:
        self._tags.update(sealed[-TAG_SIZE:])
        self._out.write(sealed)


@dataclass(frozen=True)
class _Replay:
    """The whole chunks of an unfinished sealed upload, to open again in order."""

    opener: StreamOpener
    sealed: BinaryIO
    chunks: int
    chunk_size: int


def _replay(replay: _Replay, inspector: Inspector, tags: hashlib._Hash) -> Iterator[bytes]:
    opener, sealed, chunks, chunk_size = (
        replay.opener,
        replay.sealed,
        replay.chunks,
        replay.chunk_size,
    )
    for index in range(chunks):
        ciphertext = sealed.read(chunk_size + TAG_SIZE)
        plaintext = opener.open_chunk(index, ciphertext, last=False)
        tags.update(ciphertext[-TAG_SIZE:])
        if index == 0:
            inspector.inspect_head(bytearray(plaintext))
        inspector.feed(plaintext)
        yield plaintext


# --- the tail of a resumable upload --------------------------------------------------


def write_tail(path: Path, key: SealingKey, upload_id: str, ingest: SealedIngest) -> None:
    """Seal the ingest's unfinished chunk to ``path`` atomically (temp, fsync, rename)."""
    envelope = key.seal(
        ingest.tail, aad=aad.upload_tail(upload_id, ingest.header, ingest.sealed_chunks)
    )
    temporary = path.with_name(f"{path.name}.{secrets.token_hex(8)}.part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(envelope)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_tail(path: Path, key: SealingKey, upload_id: str, header: bytes, chunks: int) -> bytes:
    """The unfinished chunk's plaintext; empty if there is no tail or it belongs to another
    point of the stream (stale); :class:`DecryptionFailed` never escapes for staleness."""
    try:
        envelope = path.read_bytes()
    except FileNotFoundError:
        return b""
    try:
        return key.open(envelope, aad=aad.upload_tail(upload_id, header, chunks))
    except DecryptionFailed:
        return b""
