"""Sealing large objects (DICOM studies, scans) in constant memory: the STREAM construction.

Hoang, Reyhanitabar, Rogaway and Vizár's online AE: the object is cut into fixed-size
chunks, each sealed with AES-256-GCM under a per-object key, with a nonce that names the
chunk's position and whether it is the last. Truncating, reordering, duplicating,
dropping or appending chunks, or touching the header, makes a chunk fail to open.

Sealed layout::

    header = b"CVS1" || salt (32) || nonce prefix (7)                  43 bytes
    chunk i = AES-GCM(object key, prefix || i (4, big-endian) || last (1), plaintext_i)

* object key = HKDF-SHA256(ikm=the person's data key, salt, info=b"crossvault stream v1" + aad)
* each chunk's GCM AAD = header || aad, so the header is authenticated too;
* every chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last holds
  fewer (possibly none) and carries the last flag. A stream of ``n`` bytes therefore has
  ``n // chunk_size + 1`` chunks, and the chunk count follows from the sealed size.

The last flag and the rule "only the last chunk is short" back each other up: either
alone stops a truncated object from passing as complete.

``chunk_size`` is not recorded in the header: sealing and opening must agree on it (the
default :data:`CHUNK_SIZE` everywhere but in tests). A mismatch fails to open.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.core.errors import DecryptionFailed
from vault.crypto.envelope import KEY_SIZE, TAG_SIZE

CHUNK_SIZE = 1 << 20
MAX_CHUNK_SIZE = 1 << 26
MAGIC = b"CVS1"
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
HEADER_SIZE = len(MAGIC) + SALT_SIZE + NONCE_PREFIX_SIZE
MAX_CHUNKS = 1 << 32
KDF_INFO = b"crossvault stream v1"


@dataclass(frozen=True)
class StreamInfo:
    """What the vault records in clear about a sealed object: its size and digest."""

    plaintext_size: int
    sha256: str


@dataclass(frozen=True)
class _Layout:
    """Where the chunks of a sealed object of a given size lie."""

    chunk_size: int
    chunk_count: int
    plaintext_size: int

    @classmethod
    def of(cls, sealed_object_size: int, chunk_size: int) -> _Layout:
        full_chunks, last_sealed = divmod(sealed_object_size - HEADER_SIZE, chunk_size + TAG_SIZE)
        if sealed_object_size < HEADER_SIZE + TAG_SIZE or last_sealed < TAG_SIZE:
            raise DecryptionFailed()
        plaintext = full_chunks * chunk_size + last_sealed - TAG_SIZE
        return cls(chunk_size, full_chunks + 1, plaintext)

    def offset(self, index: int) -> int:
        return HEADER_SIZE + index * (self.chunk_size + TAG_SIZE)

    @property
    def last_index(self) -> int:
        return self.chunk_count - 1


class _ChunkCipher:
    """The per-object key and nonce schedule shared by sealing and opening."""

    __slots__ = ("_aad", "_aead", "_prefix", "chunk_size")

    def __init__(self, data_key: bytes, header: bytes, aad: bytes, chunk_size: int) -> None:
        _check_parameters(data_key, chunk_size)
        salt, prefix = header[len(MAGIC) : -NONCE_PREFIX_SIZE], header[-NONCE_PREFIX_SIZE:]
        kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=KDF_INFO + aad)
        self._aead = AESGCM(kdf.derive(data_key))
        self._prefix = prefix
        self._aad = header + aad
        self.chunk_size = chunk_size

    def _well_sized(self, sealed_size: int, *, last: bool) -> bool:
        """A full chunk is exactly one chunk; the last is shorter, down to a bare tag."""
        full = self.chunk_size + TAG_SIZE
        return TAG_SIZE <= sealed_size < full if last else sealed_size == full

    def _nonce(self, index: int, last: bool) -> bytes:
        if not 0 <= index < MAX_CHUNKS:
            raise ValueError(f"a stream holds at most {MAX_CHUNKS} chunks")
        return self._prefix + struct.pack(">IB", index, last)

    def seal(self, index: int, plaintext: bytes | memoryview, *, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), plaintext, self._aad)

    def open(self, index: int, sealed: bytes, *, last: bool) -> bytes:
        if not self._well_sized(len(sealed), last=last):
            raise DecryptionFailed()
        return self._aead.decrypt(self._nonce(index, last), sealed, self._aad)


def _check_parameters(data_key: bytes, chunk_size: int) -> None:
    if not isinstance(data_key, bytes) or len(data_key) != KEY_SIZE:
        raise ValueError(f"a data key is exactly {KEY_SIZE} bytes")
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE}")


class _NoDigest:
    """Stands in for ``hashlib.sha256()`` when no plaintext digest is wanted."""

    def update(self, data: bytes | bytearray | memoryview) -> None:
        pass


class StreamSealer:
    """Seals an object incrementally, e.g. while an upload arrives over HTTP.

    Send :attr:`header`, then whatever :meth:`update` returns for each piece of
    plaintext, then what :meth:`finalize` returns. Holds less than one chunk of plaintext.
    """

    def __init__(
        self, data_key: bytes, *, aad: bytes, chunk_size: int = CHUNK_SIZE, digest: bool = True
    ) -> None:
        """``digest=False`` skips the plaintext SHA-256 (:attr:`sha256` then raises): on
        this hardware SHA-256 runs at about a third of AES-GCM's speed, so it, not the
        encryption, bounds sealing. Uploads keep it for the depositor's receipt."""
        self._header = MAGIC + os.urandom(SALT_SIZE) + os.urandom(NONCE_PREFIX_SIZE)
        self._cipher = _ChunkCipher(data_key, self._header, aad, chunk_size)
        self._pending = bytearray()
        self._next_index = 0
        self._plaintext_size = 0
        self._digest: Any = hashlib.sha256() if digest else _NoDigest()
        self._finalized = False

    @classmethod
    def resume(
        cls,
        data_key: bytes,
        header: bytes,
        sealed_plaintext: Iterable[bytes],
        *,
        aad: bytes,
        chunk_size: int = CHUNK_SIZE,
    ) -> StreamSealer:
        """Continue sealing an unfinished object (e.g. a resumable upload, after a restart).

        ``header`` is the one the object began with; ``sealed_plaintext`` yields, in
        order, the plaintext of the whole chunks already sealed (read back by opening
        them with :class:`StreamOpener`), so that :attr:`plaintext_size` and
        :attr:`sha256` cover the whole object. The next chunk sealed is the one after them.

        ``ValueError`` unless each piece is exactly one chunk; :class:`DecryptionFailed`
        for a malformed header. The caller must drop whatever was written after those
        chunks, and must never resume twice from one point with different plaintext:
        sealing one chunk index twice under one header reuses its nonce.
        """
        if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
            raise DecryptionFailed()
        sealer = cls(data_key, aad=aad, chunk_size=chunk_size)
        sealer._header = bytes(header)
        sealer._cipher = _ChunkCipher(data_key, sealer._header, aad, chunk_size)
        for plaintext in sealed_plaintext:
            if len(plaintext) != chunk_size:
                raise ValueError("a stream resumes after whole chunks only")
            sealer._digest.update(plaintext)
            sealer._plaintext_size += chunk_size
            sealer._next_index += 1
        return sealer

    @property
    def header(self) -> bytes:
        """The 43 bytes that open the sealed object."""
        return self._header

    @property
    def plaintext_size(self) -> int:
        """Plaintext bytes taken in so far (the object's size once finalized)."""
        return self._plaintext_size

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the whole plaintext; only once finalized, and only if computed."""
        self._require(finalized=True)
        if isinstance(self._digest, _NoDigest):
            raise ValueError("this sealer was made with digest=False")
        return str(self._digest.hexdigest())

    @property
    def info(self) -> StreamInfo:
        """Size and digest of the sealed object; only once finalized."""
        return StreamInfo(self.plaintext_size, self.sha256)

    def update(self, plaintext: bytes) -> bytes:
        """Take more plaintext; return the chunks it completes, sealed (maybe none)."""
        self._require(finalized=False)
        self._digest.update(plaintext)
        self._plaintext_size += len(plaintext)
        rest = memoryview(plaintext)
        sealed = []
        if self._pending:
            rest = self._fill_pending(rest)
            if len(self._pending) == self._cipher.chunk_size:
                sealed.append(self._seal_chunk(self._pending, last=False))
                self._pending.clear()
        while len(rest) >= self._cipher.chunk_size:
            sealed.append(self._seal_chunk(rest[: self._cipher.chunk_size], last=False))
            rest = rest[self._cipher.chunk_size :]
        self._pending += rest
        return b"".join(sealed)

    def finalize(self) -> bytes:
        """Seal the remaining plaintext (possibly none) as the flagged last chunk."""
        self._require(finalized=False)
        self._finalized = True
        last = self._seal_chunk(self._pending, last=True)
        self._pending = bytearray()
        return last

    def _fill_pending(self, rest: memoryview) -> memoryview:
        room = self._cipher.chunk_size - len(self._pending)
        self._pending += rest[:room]
        return rest[room:]

    def _seal_chunk(self, plaintext: bytes | bytearray | memoryview, *, last: bool) -> bytes:
        sealed = self._cipher.seal(self._next_index, memoryview(plaintext), last=last)
        self._next_index += 1
        return sealed

    def _require(self, *, finalized: bool) -> None:
        if self._finalized != finalized:
            raise ValueError("stream already finalized" if self._finalized else "not finalized")


class StreamOpener:
    """Opens the chunks of one sealed object, in any order (HTTP Range reads)."""

    def __init__(
        self, data_key: bytes, header: bytes, *, aad: bytes, chunk_size: int = CHUNK_SIZE
    ) -> None:
        if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
            raise DecryptionFailed()
        self._cipher = _ChunkCipher(data_key, bytes(header), aad, chunk_size)

    def open_chunk(self, index: int, sealed: bytes, *, last: bool) -> bytes:
        """The plaintext of chunk ``index``; :class:`DecryptionFailed` if it is not that
        chunk of this object (or not its last chunk when ``last`` says so)."""
        try:
            return self._cipher.open(index, sealed, last=last)
        except Exception:
            raise DecryptionFailed() from None


def sealed_size(plaintext_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """Size of the sealed object for ``plaintext_size`` bytes of plaintext."""
    full_chunks, rest = divmod(plaintext_size, chunk_size)
    return HEADER_SIZE + full_chunks * (chunk_size + TAG_SIZE) + rest + TAG_SIZE


def plaintext_size_of(sealed_object_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """Plaintext size of a sealed object of this size (for Content-Length); raises
    :class:`DecryptionFailed` if no sealed object has that size. Not authenticated."""
    return _Layout.of(sealed_object_size, chunk_size).plaintext_size


def seal_file(
    data_key: bytes,
    src: BinaryIO,
    dst: BinaryIO,
    *,
    aad: bytes,
    chunk_size: int = CHUNK_SIZE,
) -> StreamInfo:
    """Seal everything ``src`` holds into ``dst``, one chunk in memory at a time."""
    sealer = StreamSealer(data_key, aad=aad, chunk_size=chunk_size)
    dst.write(sealer.header)
    while plaintext := src.read(chunk_size):
        dst.write(sealer.update(plaintext))
    dst.write(sealer.finalize())
    return sealer.info


def open_file(
    data_key: bytes, src: BinaryIO, *, aad: bytes, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Open a sealed object read sequentially from ``src``, yielding plaintext chunks.

    The header is checked at once; each chunk is authenticated before it is yielded, and
    a stream that ends without its last chunk, or goes on after it, raises
    :class:`DecryptionFailed` at that point. A consumer streaming to a client must
    therefore abort (not complete) the response when iteration raises.
    """
    opener = StreamOpener(data_key, _read_exactly(src, HEADER_SIZE), aad=aad, chunk_size=chunk_size)
    return _open_sequentially(opener, src, chunk_size)


def _open_sequentially(opener: StreamOpener, src: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    for index in itertools.count():
        sealed = _read_exactly(src, chunk_size + TAG_SIZE)
        last = len(sealed) < chunk_size + TAG_SIZE
        plaintext = opener.open_chunk(index, sealed, last=last)
        if plaintext:
            yield plaintext
        if last:
            return


def open_range(
    data_key: bytes,
    src: BinaryIO,
    *,
    aad: bytes,
    span: tuple[int, int],
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """Yield exactly ``plaintext[start : end_inclusive + 1]`` (``span`` is ``(start,
    end_inclusive)``) of the sealed object in the seekable ``src``, opening only the
    chunks that overlap it (for HTTP Range).

    The chunk count comes from the sealed size, and the flagged last chunk is
    authenticated first, so a truncated or extended object fails even when the range
    does not reach its end. :class:`DecryptionFailed` if the object does not open, then
    ``ValueError`` if the range is not satisfiable (HTTP 416). Chunks outside the range
    are not read, so damage confined to them goes unnoticed by this read.
    """
    layout = _Layout.of(src.seek(0, os.SEEK_END), chunk_size)
    src.seek(0)
    opener = StreamOpener(data_key, _read_exactly(src, HEADER_SIZE), aad=aad, chunk_size=chunk_size)
    last_plaintext = _open_at(opener, src, layout, layout.last_index)
    start, end_inclusive = span
    if not 0 <= start <= end_inclusive < layout.plaintext_size:
        raise ValueError(f"range {start}-{end_inclusive} of {layout.plaintext_size} bytes")
    return _open_span(opener, src, layout, span, last_plaintext)


def _open_span(
    opener: StreamOpener,
    src: BinaryIO,
    layout: _Layout,
    span: tuple[int, int],
    last_plaintext: bytes,
) -> Iterator[bytes]:
    start, end_inclusive = span
    first, final = start // layout.chunk_size, end_inclusive // layout.chunk_size
    for index in range(first, final + 1):
        plaintext = (
            last_plaintext if index == layout.last_index else _open_at(opener, src, layout, index)
        )
        base = index * layout.chunk_size
        yield plaintext[max(start - base, 0) : end_inclusive - base + 1]


def _open_at(opener: StreamOpener, src: BinaryIO, layout: _Layout, index: int) -> bytes:
    src.seek(layout.offset(index))
    sealed = _read_exactly(src, layout.chunk_size + TAG_SIZE)
    return opener.open_chunk(index, sealed, last=index == layout.last_index)


def _read_exactly(src: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer only at end of file (pipes may return short reads)."""
    first = src.read(size)
    if len(first) == size or not first:
        return first
    parts, missing = [first], size - len(first)
    while missing and (more := src.read(missing)):
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)
