"""Sealed records: round trip, tamper evidence, binding to their place, AAD injectivity."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from vault.core.errors import DecryptionFailed
from vault.crypto.aad import blob as blob_aad
from vault.crypto.aad import data_key as data_key_aad
from vault.crypto.aad import record as record_aad
from vault.crypto.envelope import KEY_SIZE, NONCE_SIZE, SealingKey

KEY = SealingKey.generate()

# A small alphabet full of separators makes naive concatenations collide quickly.
ids = st.text(alphabet="ab|:,\x00/", max_size=4)
dates = st.dates(min_value=datetime.date(1, 1, 1))
record_places = st.tuples(ids, ids, ids, dates)


def flip(data: bytes, bit: int) -> bytes:
    damaged = bytearray(data)
    damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


@given(plaintext=st.binary(), aad=st.binary())
def test_open_returns_what_was_sealed(plaintext: bytes, aad: bytes) -> None:
    assert KEY.open(KEY.seal(plaintext, aad=aad), aad=aad) == plaintext


@given(plaintext=st.binary(max_size=64))
def test_envelope_is_version_nonce_ciphertext_tag(plaintext: bytes) -> None:
    envelope = KEY.seal(plaintext, aad=b"")
    assert envelope[0] == 0x01
    assert len(envelope) == 1 + NONCE_SIZE + len(plaintext) + 16


@given(plaintext=st.binary(max_size=64))
def test_every_seal_draws_a_fresh_nonce(plaintext: bytes) -> None:
    first, second = KEY.seal(plaintext, aad=b"a"), KEY.seal(plaintext, aad=b"a")
    assert first[1 : 1 + NONCE_SIZE] != second[1 : 1 + NONCE_SIZE]


@given(plaintext=st.binary(max_size=256), aad=st.binary(max_size=32), data=st.data())
def test_any_single_bit_flip_fails_to_open(
    plaintext: bytes, aad: bytes, data: st.DataObject
) -> None:
    envelope = KEY.seal(plaintext, aad=aad)
    bit = data.draw(st.integers(0, len(envelope) * 8 - 1), label="bit")
    with pytest.raises(DecryptionFailed):
        KEY.open(flip(envelope, bit), aad=aad)


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_any_truncation_fails_to_open(plaintext: bytes, data: st.DataObject) -> None:
    envelope = KEY.seal(plaintext, aad=b"")
    cut = data.draw(st.integers(0, len(envelope) - 1), label="cut")
    with pytest.raises(DecryptionFailed):
        KEY.open(envelope[:cut], aad=b"")


@given(garbage=st.binary(max_size=80), aad=st.binary(max_size=8))
def test_garbage_raises_only_decryption_failed(garbage: bytes, aad: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        KEY.open(garbage, aad=aad)


@pytest.mark.parametrize("envelope", [None, "text", 12, object()])
def test_a_non_bytes_envelope_raises_only_decryption_failed(envelope: object) -> None:
    with pytest.raises(DecryptionFailed):
        KEY.open(envelope, aad=b"")  # type: ignore[arg-type]


@given(plaintext=st.binary(max_size=64))
def test_another_key_fails_to_open(plaintext: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        SealingKey.generate().open(KEY.seal(plaintext, aad=b""), aad=b"")


@given(plaintext=st.binary(max_size=64), here=record_places, there=record_places)
@example(
    b"x", ("p", "r", "lab", datetime.date(2020, 1, 2)), ("q", "r", "lab", datetime.date(2020, 1, 2))
)
@example(
    b"x", ("p", "r", "lab", datetime.date(2020, 1, 2)), ("p", "s", "lab", datetime.date(2020, 1, 2))
)
@example(
    b"x", ("p", "r", "lab", datetime.date(2020, 1, 2)), ("p", "r", "rx", datetime.date(2020, 1, 2))
)
@example(
    b"x", ("p", "r", "lab", datetime.date(2020, 1, 2)), ("p", "r", "lab", datetime.date(2020, 1, 3))
)
def test_a_record_moved_to_another_place_fails_to_open(
    plaintext: bytes,
    here: tuple[str, str, str, datetime.date],
    there: tuple[str, str, str, datetime.date],
) -> None:
    assume(here != there)
    envelope = KEY.seal(plaintext, aad=record_aad(*here))
    with pytest.raises(DecryptionFailed):
        KEY.open(envelope, aad=record_aad(*there))


@given(first=record_places, second=record_places)
@example(("a|", "b", "c", datetime.date(2020, 1, 1)), ("a", "|b", "c", datetime.date(2020, 1, 1)))
def test_record_aad_is_injective(
    first: tuple[str, str, str, datetime.date], second: tuple[str, str, str, datetime.date]
) -> None:
    assume(first != second)
    assert record_aad(*first) != record_aad(*second)


@given(first=st.tuples(ids, st.integers()), second=st.tuples(ids, st.integers()))
def test_data_key_aad_is_injective(first: tuple[str, int], second: tuple[str, int]) -> None:
    assume(first != second)
    assert data_key_aad(*first) != data_key_aad(*second)


@given(first=st.tuples(ids, ids, ids), second=st.tuples(ids, ids, ids))
def test_blob_aad_is_injective(first: tuple[str, str, str], second: tuple[str, str, str]) -> None:
    assume(first != second)
    assert blob_aad(*first) != blob_aad(*second)


@given(place=st.tuples(ids, ids, ids), version=st.integers(), date=dates)
def test_aad_kinds_never_collide(
    place: tuple[str, str, str], version: int, date: datetime.date
) -> None:
    person, record, name = place
    encodings = {
        record_aad(person, record, name, date),
        blob_aad(person, record, name),
        data_key_aad(person, version),
    }
    assert len(encodings) == 3


def test_a_datetime_is_not_a_clinical_date() -> None:
    with pytest.raises(TypeError):
        record_aad("p", "r", "lab", datetime.datetime(2020, 1, 2, 3, 4))


@pytest.mark.parametrize("size", [0, 16, KEY_SIZE - 1, KEY_SIZE + 1, 64])
def test_a_key_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ValueError):
        SealingKey(bytes(size))


def test_the_key_never_shows_in_repr() -> None:
    key = SealingKey(bytes(range(KEY_SIZE)))
    for shown in (repr(key), str(key), f"{key}"):
        assert "\\x" not in shown and "000102" not in shown
    assert key.raw() == bytes(range(KEY_SIZE))
