"""Following a DICOM Part 10 stream as it arrives, without holding it: the
:class:`DicomWalker` (element structure in constant memory) and the
:class:`DicomInspector` that :mod:`vault.radiology.ingest` runs on every DICOM upload —
header and identity checked before anything is sealed, the preamble zeroed, truncation
refused (see :mod:`vault.radiology.dicom` for the header and identity checks)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from vault.radiology.dicom import (
    EXPLICIT_VR_BIG_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    MIN_SIZE,
    DicomHeader,
    DicomInvalid,
    DicomProblem,
    DicomTruncated,
    NotDicom,
    parse_head,
    read_header,
    text_of,
    zero_preamble,
)

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


def _ends_inside_an_element(data: bytes | bytearray) -> bool:
    """Does a whole file stop inside an element (judged in the transfer syntax its
    file meta names, or explicit VR little endian if even that is cut)?"""
    try:
        syntax = text_of(parse_head(data).file_meta.get("TransferSyntaxUID"))
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
