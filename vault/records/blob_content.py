"""Streaming a blob record back: a sealed large object (a DICOM study) decrypted chunk
by chunk, whole or by byte range, for a caller whose read was already decided and
audited (see :mod:`vault.records.reading`, :mod:`vault.radiology.deposits`).

The record's AAD for its blob is :func:`vault.crypto.aad.blob` of its person, its id and
its blob name, so a blob moved under another record does not open.

Opening is checked as far as it can be before the first byte goes out: the sealed size
must fit the record (:func:`open_blob_record`), and :meth:`BlobContent.chunks` /
:meth:`BlobContent.range` authenticate the header and the first chunk they yield before
they return. A blob damaged there is answered with the integrity problem instead of a
``200`` that breaks off.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlmodel import Session

from vault.core.errors import DecryptionFailed
from vault.crypto import aad
from vault.crypto.streams import CHUNK_SIZE, open_file, open_range, plaintext_size_of
from vault.runtime.opening import Vault
from vault.store.blobs import BlobStore
from vault.store.tables import Record


@dataclass(frozen=True)
class BlobContent:
    """A sealed blob ready to stream back, decrypted chunk by chunk. Only made after the
    caller's read was decided and audited."""

    record: Record
    size: int
    blobs: BlobStore
    aad: bytes = field(repr=False)
    data_key: bytes = field(repr=False)
    chunk_size: int = CHUNK_SIZE

    def chunks(self) -> Iterator[bytes]:
        """The whole plaintext. The header and first chunk are opened *before* this
        returns, so damage there raises :class:`DecryptionFailed` while an HTTP answer
        can still be a clean problem; damage further on raises mid-way (a response
        streaming it must then be aborted, never completed)."""
        return _primed(self._chunks())

    def range(self, start: int, end_inclusive: int) -> Iterator[bytes]:
        """``plaintext[start : end_inclusive + 1]``, opening only the chunks it needs
        (the header, the last chunk and the range's first chunk before this returns)."""
        return _primed(self._range(start, end_inclusive))

    def _chunks(self) -> Iterator[bytes]:
        with self._source() as source:
            yield from open_file(self.data_key, source, aad=self.aad, chunk_size=self.chunk_size)

    def _range(self, start: int, end_inclusive: int) -> Iterator[bytes]:
        with self._source() as source:
            yield from open_range(
                self.data_key,
                source,
                aad=self.aad,
                span=(start, end_inclusive),
                chunk_size=self.chunk_size,
            )

    def _source(self) -> BinaryIO:
        """The sealed object (a local file, or ranged reads of an S3 object); one that
        vanished since it was sized is an integrity failure."""
        assert self.record.blob_name is not None
        try:
            return self.blobs.open(self.record.person_id, self.record.blob_name)
        except FileNotFoundError:
            raise DecryptionFailed() from None


def _primed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` with its first item already produced (so its failure raises here)."""
    try:
        first = next(chunks)
    except StopIteration:
        return iter(())
    return itertools.chain((first,), chunks)


def open_blob_record(
    vault: Vault,
    record: Record,
    *,
    data_key: bytes | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> BlobContent:
    """The blob of ``record`` (whose read the caller already decided), or
    :class:`DecryptionFailed` if its sealed size does not fit the record."""
    if record.blob_name is None:
        raise ValueError("the record holds no blob")
    if data_key is None:
        with Session(vault.engine) as session:
            data_key = vault.keys.get(session, record.person_id).raw()
    try:
        sealed = vault.blobs.size_of(record.person_id, record.blob_name)
    except FileNotFoundError:
        raise DecryptionFailed() from None
    size = plaintext_size_of(sealed, chunk_size)
    if size != record.size:
        raise DecryptionFailed()
    blob_aad = aad.blob(record.person_id, record.id, record.blob_name)
    return BlobContent(record, size, vault.blobs, blob_aad, data_key, chunk_size)
