"""``StreamSealer.resume``: a stream continued after whole chunks is the stream that one
sealer would have made, and resuming is refused where it would be unsafe or wrong."""

from __future__ import annotations

import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.core.errors import DecryptionFailed
from vault.crypto.envelope import KEY_SIZE, TAG_SIZE
from vault.crypto.streams import HEADER_SIZE, StreamOpener, StreamSealer, open_file

DATA_KEY = bytes(range(KEY_SIZE))
AAD = b"person p / record r / upload"


def _reopen_whole_chunks(sealed: bytes, chunk_size: int) -> list[bytes]:
    opener = StreamOpener(DATA_KEY, sealed[:HEADER_SIZE], aad=AAD, chunk_size=chunk_size)
    body = sealed[HEADER_SIZE:]
    step = chunk_size + TAG_SIZE
    return [
        opener.open_chunk(i, body[i * step : (i + 1) * step], last=False)
        for i in range(len(body) // step)
    ]


@given(
    chunk_size=st.sampled_from([1, 4, 16]),
    first=st.binary(max_size=80),
    second=st.binary(max_size=80),
)
def test_a_resumed_stream_opens_to_the_whole_plaintext(
    chunk_size: int, first: bytes, second: bytes
) -> None:
    sealer = StreamSealer(DATA_KEY, aad=AAD, chunk_size=chunk_size)
    written = sealer.header + sealer.update(first)  # the unfinished chunk is lost here
    whole = len(first) // chunk_size * chunk_size
    resumed = StreamSealer.resume(
        DATA_KEY,
        written[:HEADER_SIZE],
        _reopen_whole_chunks(written, chunk_size),
        aad=AAD,
        chunk_size=chunk_size,
    )
    assert resumed.plaintext_size == whole
    rest = first[whole:] + second
    sealed = written + resumed.update(rest) + resumed.finalize()
    plaintext = b"".join(open_file(DATA_KEY, io.BytesIO(sealed), aad=AAD, chunk_size=chunk_size))
    assert plaintext == first + second
    assert resumed.sha256 == hashlib.sha256(first + second).hexdigest()
    assert resumed.plaintext_size == len(first + second)


def test_a_resumed_stream_is_byte_for_byte_the_uninterrupted_one() -> None:
    plaintext = bytes(range(256)) * 3
    whole = StreamSealer(DATA_KEY, aad=AAD, chunk_size=64)
    sealed = whole.header + whole.update(plaintext) + whole.finalize()
    prefix = sealed[: HEADER_SIZE + 2 * (64 + TAG_SIZE)]
    resumed = StreamSealer.resume(
        DATA_KEY, prefix[:HEADER_SIZE], _reopen_whole_chunks(prefix, 64), aad=AAD, chunk_size=64
    )
    assert prefix + resumed.update(plaintext[128:]) + resumed.finalize() == sealed


def test_resuming_after_a_partial_chunk_is_refused() -> None:
    sealer = StreamSealer(DATA_KEY, aad=AAD, chunk_size=8)
    with pytest.raises(ValueError, match="whole chunks"):
        StreamSealer.resume(DATA_KEY, sealer.header, [b"12345678", b"123"], aad=AAD, chunk_size=8)


@pytest.mark.parametrize("header", [b"", b"CVS1" + bytes(10), b"XXXX" + bytes(HEADER_SIZE - 4)])
def test_a_malformed_header_does_not_resume(header: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        StreamSealer.resume(DATA_KEY, header, [], aad=AAD)


def test_a_resumed_stream_under_another_aad_does_not_open() -> None:
    sealer = StreamSealer(DATA_KEY, aad=AAD, chunk_size=4)
    written = sealer.header + sealer.update(b"abcdefgh")
    resumed = StreamSealer.resume(
        DATA_KEY, sealer.header, [b"abcd", b"efgh"], aad=b"another place", chunk_size=4
    )
    sealed = written + resumed.update(b"ij") + resumed.finalize()
    with pytest.raises(DecryptionFailed):
        b"".join(open_file(DATA_KEY, io.BytesIO(sealed), aad=AAD, chunk_size=4))
