"""DICOM Part 10 files checked while they stream in, without holding them.

Three checks, each on what has arrived so far:

* :func:`read_header` — pydicom parses the *head* of the file (its first chunk, or the
  whole file if shorter) with ``stop_before_pixels``, ``defer_size`` and only the
  attributes the vault needs (``specific_tags``), so pixel data is never decoded. It
  refuses anything that is not Part 10 (no ``DICM`` after the 128-byte preamble), a
  deflated transfer syntax (its structure cannot be followed as a stream), and files
  without the study, series and SOP instance UIDs.
* :class:`~vault.radiology.dicom_stream.DicomWalker` — follows the element structure of
  the *whole* stream (tags, lengths, undefined-length sequences and items, encapsulated
  pixel data) in constant memory, skipping values. A stream that ends inside an element,
  a sequence or an item is truncated. So is an image (an image storage class, or
  ``Rows``/``Columns`` present) that ends before its pixel data: a cut on an element
  boundary cannot be told apart otherwise. (For non-image objects such a cut stays undetectable.)
* :func:`names_match` — the file's ``PatientName`` against the authorised person's name.

:class:`~vault.radiology.dicom_stream.DicomInspector` puts them together for
:mod:`vault.radiology.ingest`, and zeroes the preamble (which may carry anything, even
an executable: "polyglot" files) before the head is sealed.

pydicom's reading validation is switched to ``IGNORE`` when this module is imported:
its warnings quote attribute values (patient names), which must never reach a log.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pydicom
from pydicom import config as pydicom_config

from vault.core.errors import VaultError
from vault.radiology.dicom_json import READ_KEYWORDS, attributes_of

pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE

PREAMBLE_SIZE = 128
PREFIX = b"DICM"
MIN_SIZE = PREAMBLE_SIZE + len(PREFIX)
_META_GROUP_LE = b"\x02\x00"
MAX_UID_LENGTH = 64
DEFER_SIZE = 1024  # values larger than this are never read into memory

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_TRANSFER_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95"})
# Storage SOP classes that carry no pixel data: structured reports and key objects,
# encapsulated documents, presentation states, waveforms, radiotherapy objects.
NON_IMAGE_SOP_CLASS_PREFIXES = tuple(
    f"1.2.840.10008.5.1.4.1.1.{family}." for family in ("88", "104", "11", "9", "481")
)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_CODE_STRING = re.compile(r"^[A-Z0-9 _]{0,16}$")
_NAME_SEPARATORS = re.compile(r"[\s\^,.'\-]+")

_HEADER_KEYWORDS = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "Modality",
    "PatientName",
    "PatientID",
    "BodyPartExamined",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Rows",
    "Columns",
    *READ_KEYWORDS,  # what viewers need (QIDO-RS, WADO-RS metadata)
)


class DicomProblem(VaultError):
    """A file refused as DICOM. ``code`` is stable; the message never quotes the file."""

    code = "dicom_invalid"


class NotDicom(DicomProblem):
    code = "not_dicom"


class UnsupportedTransferSyntax(DicomProblem):
    code = "unsupported_transfer_syntax"


class DicomTruncated(DicomProblem):
    code = "dicom_truncated"


class DicomInvalid(DicomProblem):
    code = "dicom_invalid"


class PatientMismatch(DicomProblem):
    """The file names another patient than the authorised person."""

    code = "patient_mismatch"


@dataclass(frozen=True)
class DicomHeader:
    """What the vault reads from a file's header. The patient's name and id are used to
    check identity and are kept out of ``repr`` and of :meth:`metadata`."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    modality: str
    study_date: date | None
    body_part_examined: str
    is_image: bool
    patient_name: tuple[str, ...] = field(default=(), repr=False)
    patient_id: str = field(default="", repr=False)
    viewer: dict[str, Any] = field(default_factory=dict, repr=False)

    def metadata(self) -> dict[str, str]:
        """The attributes sealed into the record's metadata (no patient identity);
        ``dicom`` (JSON) holds what viewers are answered (:mod:`vault.radiology.dicom_json`),
        read to build the person's study index."""
        return {
            "dicom": json.dumps(self.viewer, sort_keys=True),
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "sop_instance_uid": self.sop_instance_uid,
            "sop_class_uid": self.sop_class_uid,
            "transfer_syntax_uid": self.transfer_syntax_uid,
            "modality": self.modality,
            "study_date": self.study_date.isoformat() if self.study_date else "",
            "body_part_examined": self.body_part_examined,
        }


def read_header(head: bytes | bytearray) -> DicomHeader:
    """Parse the header in ``head`` (the start of a Part 10 file, maybe all of it)."""
    return _header_of(parse_head(head))


def parse_head(head: bytes | bytearray) -> Any:
    if len(head) < MIN_SIZE or head[PREAMBLE_SIZE:MIN_SIZE] != PREFIX:
        raise NotDicom("not a DICOM Part 10 file (no DICM prefix after the preamble)")
    try:
        return pydicom.dcmread(
            io.BytesIO(head),
            stop_before_pixels=True,
            defer_size=DEFER_SIZE,
            specific_tags=list(_HEADER_KEYWORDS),
        )
    except Exception:
        raise DicomInvalid("the DICOM header does not parse") from None


def _header_of(dataset: Any) -> DicomHeader:
    try:
        return _checked_header(dataset)
    except DicomProblem:
        raise
    except Exception:
        raise DicomInvalid("the DICOM header does not parse") from None


def _checked_header(dataset: Any) -> DicomHeader:
    syntax = text_of(dataset.file_meta.get("TransferSyntaxUID"))
    if syntax in DEFLATED_TRANSFER_SYNTAXES:
        raise UnsupportedTransferSyntax("deflated transfer syntaxes are not accepted")
    uids = {
        "transfer syntax": syntax,
        "study": text_of(dataset.get("StudyInstanceUID")),
        "series": text_of(dataset.get("SeriesInstanceUID")),
        "SOP instance": text_of(dataset.get("SOPInstanceUID")),
        "SOP class": text_of(dataset.get("SOPClassUID")),
    }
    for name, uid in uids.items():
        if len(uid) > MAX_UID_LENGTH or not _UID.fullmatch(uid):
            raise DicomInvalid(f"the file has no valid {name} UID")
    modality, body_part = (_code_string(dataset, k) for k in ("Modality", "BodyPartExamined"))
    return DicomHeader(
        study_instance_uid=uids["study"],
        series_instance_uid=uids["series"],
        sop_instance_uid=uids["SOP instance"],
        sop_class_uid=uids["SOP class"],
        transfer_syntax_uid=syntax,
        modality=modality,
        study_date=_date(text_of(dataset.get("StudyDate"))),
        body_part_examined=body_part,
        is_image=_is_image(uids["SOP class"], dataset),
        patient_name=_name_groups(dataset.get("PatientName")),
        patient_id=text_of(dataset.get("PatientID")),
        viewer=attributes_of(dataset),
    )


def _is_image(sop_class_uid: str, dataset: Any) -> bool:
    """Must the file hold pixel data? Image attributes, or an image storage class."""
    has_image_attributes = "Rows" in dataset and "Columns" in dataset
    return has_image_attributes or not sop_class_uid.startswith(NON_IMAGE_SOP_CLASS_PREFIXES)


def text_of(value: Any) -> str:
    return "" if value is None else str(value).strip().strip("\x00").strip()


def _code_string(dataset: Any, keyword: str) -> str:
    value = text_of(dataset.get(keyword)).upper()
    if not _CODE_STRING.fullmatch(value):
        raise DicomInvalid(f"{keyword} is not a DICOM code string")
    return value


def _date(value: str) -> date | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8])) if len(value) == 8 else None
    except ValueError:
        return None


def _name_groups(value: Any) -> tuple[str, ...]:
    """The component groups of a PN value (alphabetic, ideographic, phonetic)."""
    if value is None:
        return ()
    components = getattr(value, "components", None) or (str(value),)
    return tuple(str(c) for c in components if str(c).strip())


def with_preamble(head: bytes | bytearray) -> bytes | bytearray:
    """``head`` with a zeroed preamble and ``DICM`` put in front if the file starts
    straight with its file meta group (as ``pydicom.dcmwrite`` writes a data set read
    without one, and so DICOMweb clients send it); anything else unchanged."""
    if head[PREAMBLE_SIZE:MIN_SIZE] == PREFIX or head[:2] != _META_GROUP_LE:
        return head
    return bytes(PREAMBLE_SIZE) + PREFIX + head


def zero_preamble(head: bytearray) -> None:
    """Overwrite the 128-byte preamble with zeros (what the standard recommends)."""
    head[:PREAMBLE_SIZE] = bytes(PREAMBLE_SIZE)


# --- identity ------------------------------------------------------------------------


def _name_tokens(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", name).casefold()
    return [token for token in _NAME_SEPARATORS.split(folded) if token]


def names_match(dicom_name: str, person_name: str) -> bool:
    """Does the PN component ``dicom_name`` (``FAMILY^GIVEN^MIDDLE^PREFIX^SUFFIX``) name
    the person called ``person_name``?

    Case, Unicode width, punctuation, ``^`` and spaces do not matter, nor does the order
    of the name's parts (``CHAN^TAI MAN`` is "Tai Man Chan"). For names written without
    spaces (``陳^大文`` against "陳大文"), the parts joined in either order also match.
    """
    theirs, ours = _name_tokens(dicom_name), _name_tokens(person_name)
    if not theirs or not ours:
        return False
    if sorted(theirs) == sorted(ours):
        return True
    joined = "".join(ours)
    return joined in ("".join(theirs), "".join(reversed(theirs)))


def patient_name_matches(header: DicomHeader, person_name: str) -> bool:
    """Any component group of the file's PatientName names the person."""
    return any(names_match(group, person_name) for group in header.patient_name)
