"""DICOM files checked while streaming: header extraction without pixel data, every kind
of truncation, identity matching, and the preamble zeroed before storage."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    EncapsulatedPDFStorage,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from sim.studies import Study, dataset, instance, write_large_instance
from vault.crypto.streams import CHUNK_SIZE
from vault.radiology.dicom import (
    DicomHeader,
    DicomInvalid,
    DicomProblem,
    DicomTruncated,
    NotDicom,
    PatientMismatch,
    UnsupportedTransferSyntax,
    names_match,
    patient_name_matches,
    read_header,
)
from vault.radiology.dicom_stream import DicomInspector, DicomWalker

STUDY = Study(patient_name="CHAN^TAI MAN=陳^大文", patient_id="MRN-42")


def _save(ds: Dataset, **options: bool) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True, **options)
    return buffer.getvalue()


def _with_sequence(ds: Dataset) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodeMeaning = "ZZ123", "CT chest"
    ds.ProcedureCodeSequence = Sequence([item])  # written with undefined length
    return ds


def _encapsulated() -> bytes:
    ds = _with_sequence(dataset(STUDY))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.NumberOfFrames = 2
    ds.PixelData = encapsulate([b"\xff\xd8" + b"a" * 99 + b"\xff\xd9", b"\xff\xd8" + b"b" * 50])
    ds["PixelData"].VR = "OB"
    return _save(ds)


def _implicit() -> bytes:
    ds = _with_sequence(dataset(STUDY))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.PixelData = bytes(8 * 8 * 2)
    return _save(ds, implicit_vr=True, little_endian=True)


FILES = {
    "explicit": instance(STUDY),
    "encapsulated": _encapsulated(),
    "implicit": _implicit(),
}


def _inspect(
    data: bytes, pieces: int = 1, head_size: int = CHUNK_SIZE
) -> tuple[DicomInspector, bytearray]:
    """Run ``data`` through an inspector the way :mod:`vault.radiology.ingest` does: the head is
    the first chunk, the rest follows in ``pieces``."""
    inspector = DicomInspector(lambda header: None)
    head = bytearray(data[:head_size])
    inspector.inspect_head(head, whole=len(head) == len(data))
    rest = data[len(head) :]
    step = max(1, len(rest) // pieces)
    inspector.feed(head)
    for start in range(0, len(rest), step):
        inspector.feed(rest[start : start + step])
    inspector.finish()
    return inspector, head


def test_the_header_is_read_without_pixel_data() -> None:
    header = read_header(FILES["explicit"])
    assert (header.modality, header.body_part_examined) == ("CT", "CHEST")
    assert header.study_instance_uid == STUDY.study_instance_uid
    assert header.series_instance_uid == STUDY.series_instance_uid
    assert header.study_date is not None and header.study_date.isoformat() == "2026-03-01"
    assert header.is_image and header.patient_id == "MRN-42"


def test_metadata_holds_the_uids_but_no_patient_identity() -> None:
    metadata = read_header(FILES["explicit"]).metadata()
    assert set(metadata) == {
        "study_instance_uid",
        "series_instance_uid",
        "sop_instance_uid",
        "sop_class_uid",
        "transfer_syntax_uid",
        "modality",
        "study_date",
        "body_part_examined",
        "dicom",
    }
    assert "CHAN" not in repr(metadata) + repr(read_header(FILES["explicit"]))
    assert "MRN-42" not in repr(metadata) + repr(read_header(FILES["explicit"]))


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("pieces", [1, 7, 1000])
def test_whole_files_pass_in_pieces_of_any_size(name: str, pieces: int) -> None:
    _inspect(FILES[name], pieces)


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_truncation_is_refused(name: str) -> None:
    data = FILES[name]
    for cut in range(len(data)):
        with pytest.raises(DicomProblem):
            _inspect(data[:cut])


def test_a_file_cut_inside_its_header_is_truncated_not_invalid() -> None:
    for cut in (140, 300, 600):
        with pytest.raises(DicomTruncated):
            _inspect(FILES["explicit"][:cut])


@settings(max_examples=60)
@given(data=st.data())
def test_the_walker_does_not_depend_on_how_the_stream_is_cut(data: st.DataObject) -> None:
    whole = FILES[data.draw(st.sampled_from(sorted(FILES)))]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=12)))
    walker = DicomWalker(read_header(whole).transfer_syntax_uid)
    for start, end in zip([0, *cuts], [*cuts, len(whole)], strict=True):
        walker.feed(whole[start:end])
    walker.finish()


def test_a_large_file_is_followed_without_reading_its_pixels() -> None:
    buffer = io.BytesIO()
    write_large_instance(buffer, 3 << 20, STUDY)
    data = buffer.getvalue()
    _inspect(data, pieces=50)
    with pytest.raises(DicomTruncated):
        _inspect(data[:-1])


@pytest.mark.parametrize(
    "content",
    [b"", b"%PDF-1.7\n", bytes(200), b"hello world" * 20, instance()[132:]],
    ids=["empty", "pdf", "zeros", "text", "no-preamble"],
)
def test_non_dicom_is_refused(content: bytes) -> None:
    with pytest.raises(NotDicom):
        read_header(content)


def test_a_deflated_transfer_syntax_is_refused() -> None:
    ds = dataset(STUDY)
    ds.PixelData = bytes(128)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    with pytest.raises(UnsupportedTransferSyntax):
        read_header(_save(ds))


@pytest.mark.parametrize("missing", ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
def test_files_without_their_uids_are_invalid(missing: str) -> None:
    ds = dataset(STUDY)
    ds.PixelData = bytes(128)
    delattr(ds, missing)
    with pytest.raises(DicomInvalid):
        read_header(_save(ds))


def test_an_image_cut_before_its_pixel_data_is_truncated() -> None:
    ds = dataset(STUDY)  # Rows and Columns, no PixelData: cut on an element boundary
    with pytest.raises(DicomTruncated):
        _inspect(_save(ds))


def test_a_non_image_object_needs_no_pixel_data() -> None:
    ds = dataset(STUDY)
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated"):
        delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    _inspect(_save(ds))


def test_the_preamble_is_zeroed_before_storage() -> None:
    polyglot = instance(STUDY, preamble=b"MZ\x90\x00 not a DICOM preamble")
    _, head = _inspect(polyglot)
    assert head[:128] == bytes(128) and head[128:] == polyglot[128 : len(head)]


def test_the_identity_check_sees_the_header_before_anything_is_kept() -> None:
    seen: list[DicomHeader] = []

    def refuse(header: DicomHeader) -> None:
        seen.append(header)
        raise PatientMismatch("not this person")

    head = bytearray(FILES["explicit"])
    with pytest.raises(PatientMismatch):
        DicomInspector(refuse).inspect_head(head)
    assert len(seen) == 1 and head == FILES["explicit"]  # untouched: nothing was kept


def _fullwidth(ascii_letters: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in ascii_letters)


@pytest.mark.parametrize(
    ("dicom_name", "person_name", "expected"),
    [
        ("CHAN^TAI MAN", "Chan Tai Man", True),
        ("Chan^Tai-Man", "Tai Man Chan", True),
        (_fullwidth("CHAN") + "^" + _fullwidth("TAI MAN"), "chan tai man", True),
        ("陳^大文", "陳大文", True),
        ("大文^陳", "陳大文", True),
        ("CHAN^TAI", "Chan Tai Man", False),
        ("WONG^TAI MAN", "Chan Tai Man", False),
        ("", "Chan Tai Man", False),
        ("CHAN^TAI MAN", "", False),
    ],
)
def test_names_match(dicom_name: str, person_name: str, expected: bool) -> None:
    assert names_match(dicom_name, person_name) is expected


def test_any_name_group_may_match() -> None:
    header = read_header(FILES["explicit"])
    assert patient_name_matches(header, "陳大文")
    assert patient_name_matches(header, "Chan Tai Man")
    assert not patient_name_matches(header, "Lee Siu Ming")
