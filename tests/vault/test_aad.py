"""The AAD of every sealed field, pinned byte for byte: a change here would make every
stored ciphertext of that kind fail to open (see :mod:`vault.crypto.aad`)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.crypto import aad
from vault.crypto.aad import CodeKind, RecordField

DAY = datetime.date(2024, 2, 29)
RECORD = "0000001463726f73737661756c742f7265636f72642f76310000000270310000000272310000000a6c61625f7265706f72740000000a323032342d30322d3239"  # noqa: E501

PINNED = {
    "record": (aad.record("p1", "r1", "lab_report", DAY), RECORD),
    "title": (
        aad.record_field("p1", "r1", "lab_report", DAY, RecordField.TITLE),
        RECORD + "007469746c65",
    ),
    "body": (
        aad.record_field("p1", "r1", "lab_report", DAY, RecordField.BODY),
        RECORD + "00626f6479",
    ),
    "metadata": (
        aad.record_field("p1", "r1", "lab_report", DAY, RecordField.METADATA),
        RECORD + "006d65746164617461",
    ),
    "data key": (
        aad.data_key("p1", 3),
        "0000001663726f73737661756c742f646174612d6b65792f76310000000270310000000133",
    ),
    "blob": (
        aad.blob("p1", "r1", "r1"),
        "0000001263726f73737661756c742f626c6f622f7631000000027031000000027231000000027231",
    ),
    "person name": (aad.person_name("p1"), "63726f73737661756c7420706572736f6e206e616d65007031"),
    "notification detail": (
        aad.notification_detail("n1"),
        "63726f73737661756c74206e6f74696669636174696f6e006e31",
    ),
    "code": (
        aad.code(CodeKind.PASSCODE, "p1", "a1"),
        "63726f73737661756c7420636f64650070617373636f6465007031006131",
    ),
    "restricted reason": (
        aad.restricted_reason("q1"),
        "63726f73737661756c74207265737472696374656420726561736f6e007131",
    ),
    "break-glass reason": (
        aad.break_glass_reason("p1", "b1"),
        "0000002063726f73737661756c742f627265616b2d676c6173732d726561736f6e2f7631000000027031000000026231",
    ),
    "radiology patient id": (
        aad.radiology_patient_id("p1", "d1"),
        "63726f73737661756c742f726164696f6c6f67792d70617469656e742d69642f7631007031006431",
    ),
    "dicom index": (
        aad.dicom_index("p1", "k1", "d1", datetime.date(2026, 3, 1)),
        "0000001963726f73737661756c742f6469636f6d2d696e6465782f7631000000027031000000026b310000000264310000000a323032362d30332d3031",
    ),
    "upload tail": (
        aad.upload_tail("u1", b"HDR", 7),
        "63726f73737661756c742f75706c6f61642d7461696c2f7631007531004844520000000000000007",
    ),
}


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_the_bytes_of_every_stored_aad_never_change(kind: str) -> None:
    built, pinned = PINNED[kind]
    assert built.hex() == pinned


ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=40)


@given(ids, ids, ids, ids)
def test_aads_of_different_kinds_never_coincide(a: str, b: str, c: str, d: str) -> None:
    built = [
        aad.record(a, b, c, DAY),
        aad.blob(a, b, c),
        aad.data_key(a, len(d)),
        aad.person_name(a),
        aad.notification_detail(a),
        aad.code(CodeKind.APPLICATION, a, b),
        aad.restricted_reason(a),
        aad.break_glass_reason(a, b),
        aad.radiology_patient_id(a, b),
        aad.dicom_index(a, b, c, datetime.date(2026, 3, 1)),
        aad.upload_tail(a, b.encode(), len(c)),
    ]
    assert len(set(built)) == len(built)


def test_a_record_aad_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        aad.record("p", "r", "lab", datetime.datetime(2020, 1, 2, 3, 4))


@given(ids, ids, st.sampled_from(["lab_report", "radiology", "醫療"]), st.dates())
def test_a_page_s_aads_are_the_record_fields_own_bytes(
    person: str, record: str, category: str, day: datetime.date
) -> None:
    for field in RecordField:
        page_aad = aad.record_fields_of(person, field)
        assert page_aad(record, category, day) == aad.record_field(
            person, record, category, day, field
        )


def test_a_page_s_aad_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        aad.record_fields_of("p", RecordField.TITLE)("r", "lab", datetime.datetime(2020, 1, 2))
