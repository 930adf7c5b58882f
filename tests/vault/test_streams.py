"""Streamed large objects: round trip, tamper evidence, chunk games, ranges, memory."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.core.errors import DecryptionFailed
from vault.crypto.envelope import KEY_SIZE
from vault.crypto.streams import (
    CHUNK_SIZE,
    HEADER_SIZE,
    StreamOpener,
    StreamSealer,
    open_file,
    open_range,
    plaintext_size_of,
    seal_file,
    sealed_size,
)

DATA_KEY = bytes(range(KEY_SIZE))
AAD = b"person p / record r / study.dcm"
TAG = 16

chunk_sizes = st.sampled_from([1, 5, 64])


@st.composite
def objects(draw: st.DrawFn, max_chunks: int = 5) -> tuple[int, bytes]:
    """A chunk size and a plaintext whose size is often on, or next to, a boundary."""
    chunk_size = draw(chunk_sizes)
    chunks = draw(st.integers(0, max_chunks))
    size = max(0, chunks * chunk_size + draw(st.sampled_from([-1, 0, 1, chunk_size // 2])))
    return chunk_size, draw(st.binary(min_size=size, max_size=size))


def seal(plaintext: bytes, chunk_size: int, aad: bytes = AAD) -> bytes:
    sealed = io.BytesIO()
    seal_file(DATA_KEY, io.BytesIO(plaintext), sealed, aad=aad, chunk_size=chunk_size)
    return sealed.getvalue()


def open_all(sealed: bytes, chunk_size: int, aad: bytes = AAD) -> bytes:
    return b"".join(open_file(DATA_KEY, io.BytesIO(sealed), aad=aad, chunk_size=chunk_size))


def open_whole_range(sealed: bytes, chunk_size: int) -> bytes:
    size = plaintext_size_of(len(sealed), chunk_size)
    ranged = open_range(
        DATA_KEY,
        io.BytesIO(sealed),
        aad=AAD,
        span=(0, size - 1),
        chunk_size=chunk_size,
    )
    return b"".join(ranged)


def open_first_byte(sealed: bytes, chunk_size: int) -> bytes:
    ranged = open_range(DATA_KEY, io.BytesIO(sealed), aad=AAD, span=(0, 0), chunk_size=chunk_size)
    return b"".join(ranged)


def split(sealed: bytes, chunk_size: int) -> tuple[bytes, list[bytes]]:
    body, step = sealed[HEADER_SIZE:], chunk_size + TAG
    return sealed[:HEADER_SIZE], [body[i : i + step] for i in range(0, len(body), step)]


def assert_fails(sealed: bytes, chunk_size: int) -> None:
    with pytest.raises(DecryptionFailed):
        open_all(sealed, chunk_size)


def assert_fails_everywhere(sealed: bytes, chunk_size: int) -> None:
    """Opening fails sequentially and as a range read of the whole object."""
    assert_fails(sealed, chunk_size)
    with pytest.raises(DecryptionFailed):
        open_whole_range(sealed, chunk_size)


def assert_resized_object_fails(sealed: bytes, chunk_size: int) -> None:
    """An object of the wrong length fails even a range read that never reaches its end:
    the flagged last chunk, placed by the sealed size, must open first."""
    assert_fails_everywhere(sealed, chunk_size)
    with pytest.raises(DecryptionFailed):
        open_first_byte(sealed, chunk_size)


# -- round trip ----------------------------------------------------------------------


@given(obj=objects(), aad=st.binary(max_size=16))
def test_open_file_returns_what_was_sealed(obj: tuple[int, bytes], aad: bytes) -> None:
    chunk_size, plaintext = obj
    assert open_all(seal(plaintext, chunk_size, aad), chunk_size, aad) == plaintext


@given(obj=objects())
def test_seal_file_reports_size_and_digest(obj: tuple[int, bytes]) -> None:
    chunk_size, plaintext = obj
    info = seal_file(DATA_KEY, io.BytesIO(plaintext), io.BytesIO(), aad=AAD, chunk_size=chunk_size)
    assert info.plaintext_size == len(plaintext)
    assert info.sha256 == hashlib.sha256(plaintext).hexdigest()


@given(obj=objects())
def test_sealed_size_predicts_the_sealed_object(obj: tuple[int, bytes]) -> None:
    chunk_size, plaintext = obj
    sealed = seal(plaintext, chunk_size)
    assert len(sealed) == sealed_size(len(plaintext), chunk_size)
    assert plaintext_size_of(len(sealed), chunk_size) == len(plaintext)


@given(obj=objects(), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_update_in_any_pieces_emits_each_chunk_once_complete(
    obj: tuple[int, bytes], cuts: list[int]
) -> None:
    chunk_size, plaintext = obj
    sealer = StreamSealer(DATA_KEY, aad=AAD, chunk_size=chunk_size)
    sealed, taken = [sealer.header], 0
    for end in [*sorted(min(cut, len(plaintext)) for cut in cuts), len(plaintext)]:
        sealed.append(sealer.update(plaintext[taken:end]))
        taken = end
        assert len(b"".join(sealed)) == HEADER_SIZE + taken // chunk_size * (chunk_size + TAG)
    sealed.append(sealer.finalize())
    assert open_all(b"".join(sealed), chunk_size) == plaintext
    assert (sealer.plaintext_size, sealer.sha256) == (
        len(plaintext),
        hashlib.sha256(plaintext).hexdigest(),
    )


@given(obj=objects(), data=st.data())
def test_open_range_returns_exactly_the_range(obj: tuple[int, bytes], data: st.DataObject) -> None:
    chunk_size, plaintext = obj
    if not plaintext:
        return
    start = data.draw(st.integers(0, len(plaintext) - 1), label="start")
    end = data.draw(st.integers(start, len(plaintext) - 1), label="end_inclusive")
    ranged = open_range(
        DATA_KEY,
        io.BytesIO(seal(plaintext, chunk_size)),
        aad=AAD,
        span=(start, end),
        chunk_size=chunk_size,
    )
    assert b"".join(ranged) == plaintext[start : end + 1]


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (4, 3), (0, 10), (10, 10)])
def test_an_unsatisfiable_range_is_a_value_error(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        list(
            open_range(
                DATA_KEY,
                io.BytesIO(seal(bytes(10), 4)),
                aad=AAD,
                span=(start, end),
                chunk_size=4,
            )
        )


def test_every_object_gets_a_fresh_salt_and_nonce_prefix() -> None:
    """Same key, AAD and plaintext twice: the object key and nonces must still differ."""
    first, second = seal(bytes(8), 4), seal(bytes(8), 4)
    salt, prefix = slice(4, 36), slice(36, HEADER_SIZE)
    assert first[salt] != second[salt] and first[prefix] != second[prefix]
    assert split(first, 4)[1][0] != split(second, 4)[1][0]


# -- tamper evidence -----------------------------------------------------------------


@given(obj=objects(max_chunks=3), data=st.data())
def test_any_single_bit_flip_in_header_or_chunk_fails(
    obj: tuple[int, bytes], data: st.DataObject
) -> None:
    chunk_size, plaintext = obj
    sealed = bytearray(seal(plaintext, chunk_size))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1), label="bit")
    sealed[bit // 8] ^= 1 << (bit % 8)
    assert_fails_everywhere(bytes(sealed), chunk_size)


@given(obj=objects(), other_aad=st.binary(max_size=16))
def test_an_object_moved_elsewhere_fails(obj: tuple[int, bytes], other_aad: bytes) -> None:
    chunk_size, plaintext = obj
    sealed = seal(plaintext, chunk_size, aad=other_aad + b"!")
    assert_fails(sealed, chunk_size)
    with pytest.raises(DecryptionFailed):
        list(
            open_file(
                bytes(KEY_SIZE),
                io.BytesIO(seal(plaintext, chunk_size)),
                aad=AAD,
                chunk_size=chunk_size,
            )
        )


ChunkGame = Callable[[list[bytes], int], list[bytes]]
CHUNK_GAMES: dict[str, ChunkGame] = {
    "truncate": lambda chunks, i: chunks[:i],
    "drop": lambda chunks, i: chunks[:i] + chunks[i + 1 :],
    "duplicate": lambda chunks, i: chunks[: i + 1] + chunks[i:],
    "move to end": lambda chunks, i: chunks[:i] + chunks[i + 1 :] + [chunks[i]],
    "swap with next": lambda chunks, i: (
        chunks[:i] + chunks[i + 1 : i + 2] + [chunks[i]] + chunks[i + 2 :]
    ),
    "append a copy": lambda chunks, i: [*chunks, chunks[i]],
}


@given(obj=objects(), game=st.sampled_from(sorted(CHUNK_GAMES)), data=st.data())
def test_chunk_games_fail(obj: tuple[int, bytes], game: str, data: st.DataObject) -> None:
    chunk_size, plaintext = obj
    header, chunks = split(seal(plaintext, chunk_size), chunk_size)
    index = data.draw(st.integers(0, len(chunks) - 1), label="chunk")
    played = CHUNK_GAMES[game](chunks, index)
    if played == chunks:  # e.g. swapping the last chunk with nothing
        return
    if len(played) == len(chunks):
        assert_fails_everywhere(header + b"".join(played), chunk_size)
    else:
        assert_resized_object_fails(header + b"".join(played), chunk_size)


@given(obj=objects(), data=st.data())
def test_cutting_the_sealed_object_anywhere_fails(
    obj: tuple[int, bytes], data: st.DataObject
) -> None:
    chunk_size, plaintext = obj
    sealed = seal(plaintext, chunk_size)
    cut = data.draw(st.integers(0, len(sealed) - 1), label="cut")
    assert_resized_object_fails(sealed[:cut], chunk_size)


@given(obj=objects(), tail=st.binary(min_size=1, max_size=80))
def test_appending_anything_fails(obj: tuple[int, bytes], tail: bytes) -> None:
    chunk_size, plaintext = obj
    assert_resized_object_fails(seal(plaintext, chunk_size) + tail, chunk_size)


@given(obj=objects(), data=st.data())
def test_a_chunk_from_another_object_under_the_same_key_fails(
    obj: tuple[int, bytes], data: st.DataObject
) -> None:
    chunk_size, plaintext = obj
    header, chunks = split(seal(plaintext, chunk_size), chunk_size)
    _, other_chunks = split(seal(plaintext, chunk_size), chunk_size)
    index = data.draw(st.integers(0, len(chunks) - 1), label="chunk")
    chunks[index] = other_chunks[index]
    assert_fails_everywhere(header + b"".join(chunks), chunk_size)


@pytest.mark.parametrize("header", [b"", b"CVS1", b"CVS2" + bytes(39), b"CVS1" + bytes(40)])
def test_a_malformed_header_fails(header: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        StreamOpener(DATA_KEY, header, aad=AAD)


def test_open_chunk_checks_position_and_last_flag() -> None:
    sealer = StreamSealer(DATA_KEY, aad=AAD, chunk_size=4)
    first, last = sealer.update(b"abcd"), sealer.finalize()
    opener = StreamOpener(DATA_KEY, sealer.header, aad=AAD, chunk_size=4)
    assert opener.open_chunk(0, first, last=False) == b"abcd"
    assert opener.open_chunk(1, last, last=True) == b""
    for index, sealed, flag in [
        (1, first, False),
        (0, first, True),
        (1, last, False),
        (2, last, True),
    ]:
        with pytest.raises(DecryptionFailed):
            opener.open_chunk(index, sealed, last=flag)


# -- lifecycle and memory ----------------------------------------------------------------


def test_a_finalized_sealer_takes_nothing_more() -> None:
    sealer = StreamSealer(DATA_KEY, aad=AAD)
    with pytest.raises(ValueError):
        _ = sealer.sha256
    sealer.update(b"x")
    sealer.finalize()
    with pytest.raises(ValueError):
        sealer.update(b"y")
    with pytest.raises(ValueError):
        sealer.finalize()


def test_the_default_chunk_is_one_mebibyte() -> None:
    assert CHUNK_SIZE == 1 << 20
    sealer = StreamSealer(DATA_KEY, aad=AAD)
    assert len(sealer.update(bytes(CHUNK_SIZE - 1))) == 0
    assert len(sealer.update(b"x")) == CHUNK_SIZE + TAG


@pytest.mark.parametrize("size", [0, 1, KEY_SIZE - 1, KEY_SIZE + 1])
def test_a_data_key_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ValueError):
        StreamSealer(bytes(size), aad=AAD)


class TricklingReader(io.BytesIO):
    """Returns at most ``limit`` bytes per read (like a pipe) and records request sizes."""

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data)
        self.limit, self.largest_request = limit, 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.largest_request = max(self.largest_request, size or 0)
        if size is None or size < 0:
            size = 1 << 62
        return super().read(min(size, self.limit))


@given(obj=objects(), limit=st.integers(1, 70))
def test_short_reads_still_open_and_reads_stay_chunk_sized(
    obj: tuple[int, bytes], limit: int
) -> None:
    chunk_size, plaintext = obj
    plain_source = TricklingReader(plaintext, limit)
    sealed = io.BytesIO()
    seal_file(DATA_KEY, plain_source, sealed, aad=AAD, chunk_size=chunk_size)
    sealed_source = TricklingReader(sealed.getvalue(), limit)
    opened = b"".join(open_file(DATA_KEY, sealed_source, aad=AAD, chunk_size=chunk_size))
    assert opened == plaintext
    assert 0 < plain_source.largest_request <= chunk_size
    assert 0 < sealed_source.largest_request <= max(HEADER_SIZE, chunk_size + TAG)


def test_a_sealer_without_digest_seals_the_same_format() -> None:
    import io

    from vault.crypto.streams import StreamSealer, open_file, seal_file

    key = bytes(range(32))
    data = bytes(range(256)) * 9000
    sealed = io.BytesIO()
    without = StreamSealer(key, aad=b"a", chunk_size=4096, digest=False)
    sealed.write(without.header + without.update(data) + without.finalize())
    assert without.plaintext_size == len(data)
    plain = io.BytesIO()
    assert seal_file(key, io.BytesIO(data), plain, aad=b"a", chunk_size=4096).sha256
    assert len(plain.getvalue()) == len(sealed.getvalue())
    sealed.seek(0)
    assert b"".join(open_file(key, sealed, aad=b"a", chunk_size=4096)) == data
    sealer = StreamSealer(key, aad=b"a", digest=False)
    sealer.finalize()
    import pytest

    with pytest.raises(ValueError):
        _ = sealer.sha256
