"""The sealing ingest: plaintext in pieces of any size becomes the same sealed stream;
the head is inspected (and rewritten) before anything is sealed; a resumable upload
continues from its whole chunks and sealed tail; size limits and report formats hold."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.core.errors import DecryptionFailed
from vault.crypto.envelope import KEY_SIZE, TAG_SIZE, SealingKey
from vault.crypto.streams import HEADER_SIZE, open_file
from vault.radiology.ingest import (
    ContentProblem,
    FileTooLarge,
    PdfInspector,
    SealedIngest,
    Sealing,
    TextInspector,
    TornUpload,
    read_tail,
    write_tail,
)

DATA_KEY = bytes(range(KEY_SIZE))
AAD = b"person p / record r / blob r"
CHUNK = 16


class Recorder:
    """An inspector that keeps what it was shown and upper-cases the head."""

    patient_id = None

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.seen = bytearray()

    def inspect_head(self, head: bytearray, *, whole: bool = False) -> None:
        self.heads.append(bytes(head))
        head[:] = head.upper()

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self.seen += data

    def finish(self) -> dict[str, str]:
        return {"seen": str(len(self.seen))}


def _ingest(plaintext: bytes, cuts: list[int], inspector: Recorder) -> tuple[bytes, str]:
    out = io.BytesIO()
    ingest = SealedIngest.start(Sealing(DATA_KEY, AAD, 1 << 20, CHUNK), inspector, out)
    for start, end in zip([0, *cuts], [*cuts, len(plaintext)], strict=True):
        ingest.feed(plaintext[start:end])
    done = ingest.finish()
    return out.getvalue(), done.info.sha256


def _open(sealed: bytes) -> bytes:
    return b"".join(open_file(DATA_KEY, io.BytesIO(sealed), aad=AAD, chunk_size=CHUNK))


@settings(max_examples=80)
@given(st.binary(min_size=1, max_size=100), st.data())
def test_pieces_of_any_size_seal_the_inspected_file(plaintext: bytes, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(plaintext)), max_size=8)))
    inspector = Recorder()
    sealed, sha256 = _ingest(plaintext, cuts, inspector)
    stored = plaintext[:CHUNK].upper() + plaintext[CHUNK:]
    assert _open(sealed) == stored == bytes(inspector.seen)
    assert sha256 == hashlib.sha256(stored).hexdigest()
    assert inspector.heads == [plaintext[:CHUNK]]  # once, before it was rewritten


def test_the_sealed_digest_commits_to_header_and_tags() -> None:
    out = io.BytesIO()
    ingest = SealedIngest.start(Sealing(DATA_KEY, AAD, 99, CHUNK), Recorder(), out)
    ingest.feed(b"x" * 40)
    digest = ingest.finish().sealed_digest
    sealed = out.getvalue()
    step = CHUNK + TAG_SIZE
    body = sealed[HEADER_SIZE:]
    whole = [body[i + CHUNK : i + step] for i in range(0, len(body) - step + 1, step)]
    tags = b"".join([*whole, body[-TAG_SIZE:]])
    assert len(whole) == 2 and digest == hashlib.sha256(sealed[:HEADER_SIZE] + tags).hexdigest()


def test_the_size_limit_is_checked_before_sealing() -> None:
    ingest = SealedIngest.start(Sealing(DATA_KEY, AAD, 40, CHUNK), Recorder(), io.BytesIO())
    ingest.feed(b"a" * 40)
    with pytest.raises(FileTooLarge):
        ingest.feed(b"b")


def test_an_empty_file_is_refused() -> None:
    ingest = SealedIngest.start(Sealing(DATA_KEY, AAD, 9), Recorder(), io.BytesIO())
    with pytest.raises(ContentProblem) as refused:
        ingest.finish()
    assert refused.value.code == "empty_file"


def _resumable(tmp_path: Path, sent: bytes) -> tuple[Path, Path, SealingKey]:
    main, tail = tmp_path / "upload.part", tmp_path / "upload.tail.part"
    key = SealingKey(DATA_KEY)
    with open(main, "wb") as out:
        ingest = SealedIngest.start(Sealing(DATA_KEY, AAD, 1 << 20, CHUNK), Recorder(), out)
        ingest.feed(sent)
        write_tail(tail, key, "upload-1", ingest)
    return main, tail, key


def _resume(main: Path, tail: Path, key: SealingKey, handle: io.BufferedRandom) -> SealedIngest:
    header = main.read_bytes()[:HEADER_SIZE]
    chunks = (main.stat().st_size - HEADER_SIZE) // (CHUNK + TAG_SIZE)
    return SealedIngest.resume(
        Sealing(DATA_KEY, AAD, 1 << 20, CHUNK),
        Recorder(),
        handle,
        read_tail(tail, key, "upload-1", header, chunks),
    )


def test_a_resumed_ingest_continues_from_whole_chunks_and_the_tail(tmp_path: Path) -> None:
    plaintext = bytes(range(70))
    main, tail, key = _resumable(tmp_path, plaintext[:37])
    assert main.stat().st_size == HEADER_SIZE + 2 * (CHUNK + TAG_SIZE)  # the tail is apart
    assert plaintext[32:37] not in tail.read_bytes()
    with open(main, "r+b") as handle:
        resumed = _resume(main, tail, key, handle)
        assert resumed.size == 37
        resumed.feed(plaintext[37:])
        done = resumed.finish()
    stored = plaintext[:CHUNK].upper() + plaintext[CHUNK:]
    assert _open(main.read_bytes()) == stored
    assert done.info.sha256 == hashlib.sha256(stored).hexdigest()


def test_a_stale_tail_is_ignored(tmp_path: Path) -> None:
    main, tail, key = _resumable(tmp_path, bytes(20))
    stale = tail.read_bytes()
    _, tail_now, _ = _resumable(tmp_path, bytes(40))  # the upload moved on a chunk
    tail_now.write_bytes(stale)
    with open(main, "r+b") as handle:
        assert _resume(main, tail, key, handle).size == 2 * CHUNK


def test_a_torn_or_tampered_upload_does_not_resume(tmp_path: Path) -> None:
    main, tail, key = _resumable(tmp_path, bytes(40))
    with open(main, "ab") as torn:
        torn.write(b"\x00")
    with open(main, "r+b") as handle, pytest.raises(TornUpload):
        _resume(main, tail, key, handle)
    sealed = bytearray(main.read_bytes()[:-1])
    sealed[HEADER_SIZE + 3] ^= 1
    main.write_bytes(bytes(sealed))
    with open(main, "r+b") as handle, pytest.raises(DecryptionFailed):
        _resume(main, tail, key, handle)


@pytest.mark.parametrize(
    ("inspector", "content", "code"),
    [
        (PdfInspector, b"%PDF-1.4\nbody\n%%EOF", None),
        (PdfInspector, b"<html>", "not_pdf"),
        (PdfInspector, b"%PDF-1.4\nbody", "pdf_truncated"),
        (TextInspector, "中文報告 ok".encode(), None),
        (TextInspector, b"\xff\xfe", "not_utf8_text"),
        (TextInspector, "報".encode()[:2], "not_utf8_text"),
    ],
)
def test_reports_are_checked(inspector: type, content: bytes, code: str | None) -> None:
    ingest = SealedIngest.start(Sealing(DATA_KEY, AAD, 99, 8), inspector(), io.BytesIO())
    try:
        for byte in content:
            ingest.feed(bytes([byte]))
        ingest.finish()
    except ContentProblem as problem:
        assert problem.code == code
    else:
        assert code is None
