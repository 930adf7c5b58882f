"""DICOM Part 10 files checked while they stream in, without holding them.

Three checks, each on what has arrived so far:

* :func:`read_header` — pydicom parses the *head* of the file (its first chunk, or the
  whole file if shorter) with ``stop_before_pixels``, ``defer_size`` and only the
  attributes the vault needs (``specific_tags``), so pixel data is never decoded. It
  refuses anything that is not Part 10 (no ``DICM`` after the 128-byte preamble), a
  deflated transfer syntax (its structure cannot be followed as a stream), and files
  without the study, series and SOP instance UIDs.
* :class:`DicomWalker` — follows the element structure of the *whole* stream (tags,
  lengths, undefined-length sequences and items, encapsulated pixel data) in constant
  memory, skipping values. A stream that ends inside an element, a sequence or an item
  is truncated. So is an image (an image storage class, or ``Rows``/``Columns``
  present) that ends before its pixel data: a cut on an element boundary cannot be told
  apart otherwise. (For non-image objects such a cut stays undetectable.)
* :func:`names_match` — the file's ``PatientName`` against the authorised person's name.

:class:`DicomInspector` puts them together for :mod:`vault.radiology.ingest`, and zeroes the
preamble (which may carry anything, even an executable: "polyglot" files) before the
head is sealed.

pydicom's reading validation is switched to ``IGNORE`` when this module is imported:
its warnings quote attribute values (patient names), which must never reach a log.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pydicom
from pydicom import config as pydicom_config

from vault.core.errors import VaultError

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

    def metadata(self) -> dict[str, str]:
        """The attributes sealed into the record's metadata (no patient identity)."""
        return {
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
    return _header_of(_parse(head))


def _parse(head: bytes | bytearray) -> Any:
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
    syntax = _text(dataset.file_meta.get("TransferSyntaxUID"))
    if syntax in DEFLATED_TRANSFER_SYNTAXES:
        raise UnsupportedTransferSyntax("deflated transfer syntaxes are not accepted")
    uids = {
        "transfer syntax": syntax,
        "study": _text(dataset.get("StudyInstanceUID")),
        "series": _text(dataset.get("SeriesInstanceUID")),
        "SOP instance": _text(dataset.get("SOPInstanceUID")),
        "SOP class": _text(dataset.get("SOPClassUID")),
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
        study_date=_date(_text(dataset.get("StudyDate"))),
        body_part_examined=body_part,
        is_image=_is_image(uids["SOP class"], dataset),
        patient_name=_name_groups(dataset.get("PatientName")),
        patient_id=_text(dataset.get("PatientID")),
    )


def _is_image(sop_class_uid: str, dataset: Any) -> bool:
    """Must the file hold pixel data? Image attributes, or an image storage class."""
    has_image_attributes = "Rows" in dataset and "Columns" in dataset
    return has_image_attributes or not sop_class_uid.startswith(NON_IMAGE_SOP_CLASS_PREFIXES)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip().strip("\x00").strip()


def _code_string(dataset: Any, keyword: str) -> str:
    value = _text(dataset.get(keyword)).upper()
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


# --- following the structure ------------------------------------------------------------

_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # float, double, pixel
_META_GROUP = 0x0002
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)


@dataclass(frozen=True)
class _Frame:
    """Where the walker is: in a data set (elements) or in a sequence (items)."""

    items: bool
    explicit: bool
    little: bool


class DicomWalker:
    """Follows a Part 10 stream element by element, skipping values, in O(depth) memory.

    Feed it every byte of the file, in order and in pieces of any size; :meth:`finish`
    raises :class:`DicomTruncated` unless the stream ended between two top-level
    elements. Values are never looked at, only tags and lengths.
    """

    def __init__(self, transfer_syntax_uid: str) -> None:
        explicit = transfer_syntax_uid != IMPLICIT_VR_LITTLE_ENDIAN
        little = transfer_syntax_uid != EXPLICIT_VR_BIG_ENDIAN
        self._dataset = _Frame(items=False, explicit=explicit, little=little)
        self._stack = [_Frame(items=False, explicit=True, little=True)]  # file meta
        self._in_meta = True
        self._to_skip = MIN_SIZE
        self._header = bytearray()
        self.saw_pixel_data = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while True:
            if self._to_skip and len(view):
                step = min(self._to_skip, len(view))
                self._to_skip -= step
                view = view[step:]
            elif not self._to_skip and len(self._header) == self._wanted():
                self._element()
                self._header.clear()
            elif len(view) and not self._to_skip:
                take = self._wanted() - len(self._header)
                self._header += view[:take]
                view = view[take:]
            else:
                return

    def finish(self) -> None:
        if self._to_skip or self._header or len(self._stack) > 1 or self._in_meta:
            raise DicomTruncated("the DICOM file ends inside an element")

    def _wanted(self) -> int:
        """Bytes of the element header being read: 8, or 12 for an explicit long VR."""
        if len(self._header) < 8:
            return 8
        frame = self._frame()
        if frame.items or not frame.explicit or self._tag(frame) >> 16 == 0xFFFE:
            return 8
        return 12 if bytes(self._header[4:6]) in _LONG_VRS else 8

    def _frame(self) -> _Frame:
        if self._in_meta and len(self._stack) == 1:
            group = struct.unpack_from("<H", self._header)[0]
            if group != _META_GROUP:
                self._in_meta = False
                self._stack[0] = self._dataset
        return self._stack[-1]

    def _tag(self, frame: _Frame) -> int:
        group, element = struct.unpack_from("<HH" if frame.little else ">HH", self._header)
        return int(group) << 16 | int(element)

    def _uint32(self, frame: _Frame, offset: int) -> int:
        value: int = struct.unpack_from("<I" if frame.little else ">I", self._header, offset)[0]
        return value

    def _element(self) -> None:
        frame = self._frame()
        tag = self._tag(frame)
        if frame.items:
            self._item(frame, tag)
        elif tag == _ITEM_END and len(self._stack) > 1:
            self._stack.pop()
        elif tag >> 16 == 0xFFFE:
            raise DicomInvalid("misplaced item tag in the DICOM data set")
        else:
            self._data_element(frame, tag)

    def _item(self, frame: _Frame, tag: int) -> None:
        length = self._uint32(frame, 4)
        if tag == _SEQUENCE_END:
            self._stack.pop()
        elif tag != _ITEM:
            raise DicomInvalid("a DICOM sequence holds something other than items")
        elif length == _UNDEFINED:
            self._stack.append(_Frame(items=False, explicit=frame.explicit, little=frame.little))
        else:
            self._to_skip = length

    def _data_element(self, frame: _Frame, tag: int) -> None:
        vr = bytes(self._header[4:6]) if frame.explicit else b""
        if frame.explicit and not (vr.isalpha() and vr.isupper()):
            raise DicomInvalid("a DICOM element has no valid value representation")
        if not frame.explicit:
            length = self._uint32(frame, 4)
        elif vr in _LONG_VRS:
            length = self._uint32(frame, 8)
        else:
            length = struct.unpack_from("<H" if frame.little else ">H", self._header, 6)[0]
        if tag in _PIXEL_DATA_TAGS and len(self._stack) == 1:
            self.saw_pixel_data = True
        if length != _UNDEFINED:
            self._to_skip = length
        elif vr == b"UN":  # an undefined-length UN holds implicit VR little endian
            self._stack.append(_Frame(items=True, explicit=False, little=True))
        else:
            self._stack.append(_Frame(items=True, explicit=frame.explicit, little=frame.little))


# --- the inspector used while ingesting -------------------------------------------------


def _ends_inside_an_element(data: bytes | bytearray) -> bool:
    """Does a whole file stop inside an element (judged in the transfer syntax its
    file meta names, or explicit VR little endian if even that is cut)?"""
    try:
        syntax = _text(_parse(data).file_meta.get("TransferSyntaxUID"))
    except DicomProblem:
        syntax = ""
    walker = DicomWalker(syntax or "1.2.840.10008.1.2.1")
    try:
        walker.feed(data)
        walker.finish()
    except DicomTruncated:
        return True
    except DicomProblem:
        return False
    return False


class DicomInspector:
    """Checks one DICOM file as it streams (see :mod:`vault.radiology.ingest`).

    ``check_identity`` is called with the parsed header before anything is stored; it
    raises :class:`PatientMismatch` (or another :class:`DicomProblem`) to refuse.
    """

    def __init__(self, check_identity: Callable[[DicomHeader], None]) -> None:
        self._check_identity = check_identity
        self._walker: DicomWalker | None = None
        self.header: DicomHeader | None = None

    def inspect_head(self, head: bytearray, *, whole: bool = False) -> None:
        """Parse and check the header; ``whole``: ``head`` is the entire file, so a file
        cut inside its header is reported as truncated rather than invalid."""
        try:
            header = read_header(head)
        except DicomInvalid:
            if whole and _ends_inside_an_element(head):
                raise DicomTruncated("the DICOM file ends inside its header") from None
            raise
        self._check_identity(header)
        zero_preamble(head)
        self.header = header
        self._walker = DicomWalker(header.transfer_syntax_uid)

    @property
    def patient_id(self) -> str | None:
        return None if self.header is None else self.header.patient_id

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        assert self._walker is not None, "inspect_head comes first"
        self._walker.feed(data)

    def finish(self) -> dict[str, str]:
        if self._walker is None or self.header is None:
            raise NotDicom("the file is empty")
        self._walker.finish()
        if self.header.is_image and not self._walker.saw_pixel_data:
            raise DicomTruncated("the DICOM image ends before its pixel data")
        return self.header.metadata()
