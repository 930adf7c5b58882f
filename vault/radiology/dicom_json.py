"""The DICOM attributes a viewer needs (OHIF's study list and its image display), as the
vault reads them from a file's header and answers them in QIDO-RS and WADO-RS metadata:
the DICOM JSON model of PS3.18 F.2 (``{"0020000D": {"vr": "UI", "Value": [...]}}``).

:func:`attributes_of` turns a pydicom data set into plain JSON values (strings, numbers,
lists of them), keyed by keyword; those are sealed with the person's data key in the
study index (:mod:`vault.radiology.study_index`), never stored in clear. An attribute
that is absent or does not convert is left out: it never refuses a file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    """Where an attribute belongs in the study → series → instance hierarchy."""

    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


@dataclass(frozen=True)
class Attribute:
    keyword: str
    tag: str  # eight hex digits, as DICOM JSON and QIDO-RS name it
    vr: str
    level: Level


def _a(keyword: str, tag: str, vr: str, level: Level) -> Attribute:
    return Attribute(keyword, tag, vr, level)


S, R, I = Level.STUDY, Level.SERIES, Level.INSTANCE  # noqa: E741 (three short names)

# Read from the file (keyword order is the answer's order).
READ = (
    _a("StudyInstanceUID", "0020000D", "UI", S),
    _a("StudyDate", "00080020", "DA", S),
    _a("StudyTime", "00080030", "TM", S),
    _a("AccessionNumber", "00080050", "SH", S),
    _a("StudyID", "00200010", "SH", S),
    _a("StudyDescription", "00081030", "LO", S),
    _a("PatientName", "00100010", "PN", S),
    _a("PatientID", "00100020", "LO", S),
    _a("SeriesInstanceUID", "0020000E", "UI", R),
    _a("Modality", "00080060", "CS", R),
    _a("SeriesNumber", "00200011", "IS", R),
    _a("SeriesDescription", "0008103E", "LO", R),
    _a("SOPClassUID", "00080016", "UI", I),
    _a("SOPInstanceUID", "00080018", "UI", I),
    _a("InstanceNumber", "00200013", "IS", I),
    _a("FrameOfReferenceUID", "00200052", "UI", I),
    _a("Rows", "00280010", "US", I),
    _a("Columns", "00280011", "US", I),
    _a("NumberOfFrames", "00280008", "IS", I),
    _a("SamplesPerPixel", "00280002", "US", I),
    _a("PhotometricInterpretation", "00280004", "CS", I),
    _a("BitsAllocated", "00280100", "US", I),
    _a("BitsStored", "00280101", "US", I),
    _a("HighBit", "00280102", "US", I),
    _a("PixelRepresentation", "00280103", "US", I),
    _a("PixelSpacing", "00280030", "DS", I),
    _a("SliceThickness", "00180050", "DS", I),
    _a("RescaleSlope", "00281053", "DS", I),
    _a("RescaleIntercept", "00281052", "DS", I),
    _a("WindowCenter", "00281050", "DS", I),
    _a("WindowWidth", "00281051", "DS", I),
    _a("ImagePositionPatient", "00200032", "DS", I),
    _a("ImageOrientationPatient", "00200037", "DS", I),
)
# Computed over what the caller may see, or from the stored file.
COMPUTED = (
    _a("ModalitiesInStudy", "00080061", "CS", S),
    _a("NumberOfStudyRelatedSeries", "00201206", "IS", S),
    _a("NumberOfStudyRelatedInstances", "00201208", "IS", S),
    _a("NumberOfSeriesRelatedInstances", "00201209", "IS", R),
    _a("AvailableTransferSyntaxUID", "00083002", "UI", I),
)
CATALOG: dict[str, Attribute] = {a.keyword: a for a in READ + COMPUTED}
BY_TAG: dict[str, Attribute] = {a.tag: a for a in CATALOG.values()}
READ_KEYWORDS = tuple(a.keyword for a in READ)
# Answered from the deposit and the registry, never copied from a file into the metadata:
# PatientID is the one every file of the deposit repeated (pinned, sealed); PatientName
# is the person's registered name (every file's PatientName was checked to name them).
IDENTITY = frozenset({"PatientName", "PatientID"})
_NUMBERS = {"IS": int, "US": int, "DS": float}


def attribute(name: str) -> Attribute | None:
    """The attribute a query names by keyword or by tag (``0020000D``, any case)."""
    return CATALOG.get(name) or BY_TAG.get(name.upper())


def attributes_of(dataset: Any) -> dict[str, Any]:
    """The viewer attributes of a pydicom data set, as JSON values by keyword (the
    patient's identity left out: :data:`IDENTITY`)."""
    found: dict[str, Any] = {}
    for item in READ:
        if item.keyword in IDENTITY:
            continue
        try:
            value = _plain(item.vr, dataset.get(item.keyword))
        except (TypeError, ValueError, OverflowError):
            continue
        if value is not None:
            found[item.keyword] = value
    return found


def _plain(vr: str, value: Any) -> Any:
    if value is None:
        return None
    values = list(value) if _is_multi(value) else [value]
    convert = _NUMBERS.get(vr)
    if convert is not None:
        numbers = [convert(v) for v in values if str(v).strip()]
        if not all(math.isfinite(n) for n in numbers):
            return None
        return numbers or None
    texts = [str(v).strip().strip("\x00").strip() for v in values]
    texts = [t for t in texts if t]
    return texts or None


def _is_multi(value: Any) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def element(keyword: str, value: Any) -> dict[str, Any]:
    """One DICOM JSON element: ``{"vr": ..., "Value": [...]}`` (no ``Value`` when empty)."""
    vr = CATALOG[keyword].vr
    values = value if isinstance(value, list) else [value]
    values = [v for v in values if v not in (None, "")]
    if not values:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in values]}
    return {"vr": vr, "Value": values}


def dataset_json(attributes: dict[str, Any], keywords: tuple[str, ...]) -> dict[str, Any]:
    """The DICOM JSON object of ``keywords`` (those ``attributes`` hold), in tag order."""
    chosen = [CATALOG[k] for k in keywords if k in attributes]
    return {a.tag: element(a.keyword, attributes[a.keyword]) for a in sorted(chosen, key=_tag)}


def _tag(item: Attribute) -> str:
    return item.tag


def at_levels(*levels: Level) -> tuple[str, ...]:
    return tuple(a.keyword for a in CATALOG.values() if a.level in levels)
