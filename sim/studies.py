"""Synthetic DICOM studies: small instances made with pydicom, and large ones written
to a file without holding their pixel data (for streaming tests and benchmarks).

Everything here is made up: UIDs come from pydicom's ``generate_uid``, pixels are noise.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

MIB = 1 << 20
FRAME_SIDE = 512
FRAME_BYTES = FRAME_SIDE * FRAME_SIDE * 2  # 16-bit monochrome: 512 KiB a frame


@dataclass(frozen=True)
class Study:
    """The identifiers shared by the instances of one synthetic study."""

    patient_name: str = "CHAN^TAI MAN"
    patient_id: str = "MRN-0001"
    study_instance_uid: str = field(default_factory=generate_uid)
    series_instance_uid: str = field(default_factory=generate_uid)
    modality: str = "CT"
    body_part: str = "CHEST"
    study_date: str = "20260301"


def dataset(study: Study, *, rows: int = 8, columns: int = 8, frames: int = 1) -> Dataset:
    """A CT image data set of ``study`` with its file meta, without pixel data."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: names may be written in Chinese
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study.study_instance_uid
    ds.SeriesInstanceUID = study.series_instance_uid
    ds.Modality = study.modality
    ds.BodyPartExamined = study.body_part
    ds.StudyDate = study.study_date
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.Rows, ds.Columns = rows, columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    return ds


def instance(
    study: Study | None = None, *, rows: int = 8, columns: int = 8, preamble: bytes = b""
) -> bytes:
    """A small, complete Part 10 file (``preamble``: up to 128 bytes to put in front)."""
    ds = dataset(study or Study(), rows=rows, columns=columns)
    ds.PixelData = os.urandom(rows * columns * 2)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = bytearray(buffer.getvalue())
    data[: len(preamble)] = preamble
    return bytes(data)


def write_large_instance(target: BinaryIO, size: int, study: Study | None = None) -> int:
    """Write a multi-frame instance of about ``size`` bytes to ``target`` one frame at a
    time (the pixel data never sits in memory); returns the bytes written."""
    frames = max(1, size // FRAME_BYTES)
    ds = dataset(study or Study(), rows=FRAME_SIDE, columns=FRAME_SIDE, frames=frames)
    head = io.BytesIO()
    ds.save_as(head, enforce_file_format=True)
    written = target.write(head.getvalue())
    pixel_bytes = frames * FRAME_BYTES
    written += target.write(struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OW", pixel_bytes))
    noise = os.urandom(FRAME_BYTES)
    for _ in range(frames):
        written += target.write(noise)
    return written


def write_large_file(path: Path, size: int, study: Study | None = None) -> int:
    with open(path, "wb") as target:
        return write_large_instance(target, size, study)
